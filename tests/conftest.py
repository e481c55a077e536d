"""Tiny random models for fast tests: a 2-layer, 32-wide BERT with a small WordPiece vocabulary."""

from __future__ import annotations

import itertools
import os
import string
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, BertTokenizerFast

from gliclass import GLiClassModel


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread for the tests and the commands they start: their models are tiny, and on a
    busy 2-core machine a second thread made a tiny model's training step up to 100 times slower."""
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


CORPUS = [
    "the match ended in a draw after extra time",
    "parliament passed the new budget bill on tuesday",
    "stocks fell sharply as markets reacted to the report",
    "scientists discovered a new species in the rainforest",
    "the team won the championship for the third year",
    "the central bank raised interest rates again",
    "a new smartphone with a faster chip was announced",
    "the movie was boring and far too long",
    "i loved the food and the service was great",
    "the president met foreign leaders at the summit",
    "sports politics business science technology world health music",
    "positive negative neutral joy anger sadness fear surprise love",
]


def wordpiece_vocabulary() -> dict[str, int]:
    """The corpus words whole, any other word spelled in characters: the same ids on every run and machine.

    (The WordPiece trainer breaks frequency ties differently from run to run, which made the random
    tiny models, and so the tests that read their rankings, differ between runs.)
    """
    words = sorted({word for line in CORPUS for word in line.split()})
    characters = sorted(set(string.ascii_lowercase + string.digits + string.punctuation))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *characters, *(f"##{c}" for c in characters)]
    tokens += [word for word in words if word not in characters]
    return {token: index for index, token in enumerate(tokens)}


@pytest.fixture(scope="session")
def backbone_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny BERT backbone with its tokenizer (no GLiClass tokens yet)."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = Tokenizer(models.WordPiece(wordpiece_vocabulary(), unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )
    fast = BertTokenizerFast(tokenizer_object=tokenizer, model_max_length=128)
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture
def make_model(backbone_dir: Path):
    """Factory: a tiny GLiClass model (random heads, seeded) with any config options."""

    def make(seed: int = 0, **options) -> GLiClassModel:
        torch.manual_seed(seed)
        model = GLiClassModel.from_backbone(str(backbone_dir), **options)
        with torch.no_grad():  # make the heads non-trivial so tests can tell options apart
            for name, parameter in model.model.named_parameters():
                if not name.startswith("encoder_model."):
                    parameter.normal_(0, 0.3)
        return model.eval()

    return make


EMBEDDER_OPTIONS = dict(  # a fully segment-isolated model started as the backbone's embedding model
    start_as_embedder=True,
    segment_isolated_layers=2,
    pooling_strategy="avg",
    class_token_pooling="average",
    extract_text_features=True,
    normalize_features=True,
    hidden_size=64,
)


@pytest.fixture
def make_embedder(backbone_dir: Path):
    """Factory: a tiny model whose labels are encoded apart, started as the embedding model (seeded)."""

    def make(seed: int = 0, **options) -> GLiClassModel:
        torch.manual_seed(seed)
        return GLiClassModel.from_backbone(str(backbone_dir), **{**EMBEDDER_OPTIONS, **options}).eval()

    return make


@pytest.fixture
def run_in_threads() -> Callable[[Callable[[int, int], None], float], None]:
    """`run(step, seconds)`: call `step(thread, iteration)` from 4 threads, switching threads as often
    as possible, until `seconds` pass; the first error of any thread is raised."""

    def run(step: Callable[[int, int], None], seconds: float) -> None:
        errors: list[BaseException] = []
        deadline = time.monotonic() + seconds

        def work(thread: int) -> None:
            try:
                for iteration in itertools.count():
                    if errors or time.monotonic() > deadline:
                        return
                    step(thread, iteration)
            except BaseException as error:  # noqa: BLE001 - raised by the main thread
                errors.append(error)

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(work, range(4)))
        finally:
            sys.setswitchinterval(interval)
        if errors:
            raise errors[0]

    return run

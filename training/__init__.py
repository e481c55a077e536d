"""Training GLiClass models: zero-shot pre-training and few-shot fine-tuning on `accelerate`."""

from .batches import FixedCandidatesSet, ZeroShotTrainingSet
from .data import CandidateSampler, DataError, Example, LabelledSet, load_set
from .evaluation import evaluate_set
from .finetune import finetune
from .trainer import Trainer, TrainingArguments

__all__ = [
    "CandidateSampler",
    "DataError",
    "Example",
    "FixedCandidatesSet",
    "LabelledSet",
    "Trainer",
    "TrainingArguments",
    "ZeroShotTrainingSet",
    "evaluate_set",
    "finetune",
    "load_set",
]

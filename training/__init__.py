"""Training GLiClass models: zero-shot pre-training and few-shot fine-tuning on `accelerate`."""

from gliclass.data import DataError, Example, LabelledSet, load_set

from .batches import FixedCandidatesSet, ZeroShotTrainingSet
from .data import CandidateSampler
from .evaluation import evaluate_set
from .feedback.data import FeedbackRecord, read_feedback
from .feedback.session import FeedbackSession
from .finetune import finetune
from .ppo.episodes import Episode, episodes_from_examples, episodes_from_feedback
from .ppo.rewards import (
    accuracy_reward,
    callable_reward,
    f1_reward,
    feedback_reward,
    get_reward,
    recall_weighted_reward,
)
from .ppo.trainer import PPOArguments, PPOTrainer
from .trainer import Trainer, TrainingArguments

__all__ = [
    "Episode",
    "FeedbackRecord",
    "FeedbackSession",
    "PPOArguments",
    "PPOTrainer",
    "accuracy_reward",
    "callable_reward",
    "episodes_from_examples",
    "episodes_from_feedback",
    "f1_reward",
    "feedback_reward",
    "get_reward",
    "read_feedback",
    "recall_weighted_reward",
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

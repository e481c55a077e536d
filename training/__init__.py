"""Training GLiClass models: zero-shot pre-training and few-shot fine-tuning on `accelerate`."""

from .batches import FixedCandidatesSet, ZeroShotTrainingSet
from .data import CandidateSampler, DataError, Example, LabelledSet, load_set
from .episodes import Episode, episodes_from_examples, episodes_from_feedback
from .evaluation import evaluate_set
from .feedback_data import FeedbackRecord, read_feedback
from .feedback_session import FeedbackSession
from .finetune import finetune
from .ppo_trainer import PPOArguments, PPOTrainer
from .rewards import accuracy_reward, callable_reward, f1_reward, feedback_reward, get_reward, recall_weighted_reward
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

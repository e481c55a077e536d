"""GLiClass: zero-shot and few-shot text classification, every label scored in one encoder pass."""

import logging

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .config import GLiClassConfig, GLiClassModelConfig
from .data import LabelledSet, load_set
from .evaluation import evaluate
from .label_biases import calibrate
from .model import GLiClassModel, GLiClassOutput
from .pipeline import DEFAULT_MODEL_DIR, TASK, ShippedModelNotice, ZeroShotMultilabelPipeline, pipeline
from .prompt import EXAMPLE_TOKEN, LABEL_TOKEN, SEP_TOKEN, PromptEncoder
from .reference_pipeline import (
    BiEncoderZeroShotClassificationPipeline,
    ZeroShotClassificationPipeline,
    ZeroShotClassificationWithChunkingPipeline,
)

AutoConfig.register(GLiClassConfig.model_type, GLiClassConfig, exist_ok=True)
AutoModel.register(GLiClassConfig, GLiClassModel, exist_ok=True)
PIPELINE_REGISTRY.register_pipeline(
    TASK,
    pipeline_class=ZeroShotMultilabelPipeline,
    pt_model=AutoModel,
    default={"model": (str(DEFAULT_MODEL_DIR), None)},  # the model shipped in the package: works offline
    type="text",
)
logging.getLogger("transformers.pipelines").addFilter(ShippedModelNotice())  # the default is the shipped model

__all__ = [
    "DEFAULT_MODEL_DIR",
    "EXAMPLE_TOKEN",
    "LABEL_TOKEN",
    "SEP_TOKEN",
    "BiEncoderZeroShotClassificationPipeline",
    "GLiClassConfig",
    "GLiClassModelConfig",
    "GLiClassModel",
    "GLiClassOutput",
    "LabelledSet",
    "PromptEncoder",
    "ZeroShotClassificationPipeline",
    "ZeroShotClassificationWithChunkingPipeline",
    "ZeroShotMultilabelPipeline",
    "calibrate",
    "evaluate",
    "load_set",
    "pipeline",
]
__version__ = "0.1.0"

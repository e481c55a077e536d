"""Configuration of a GLiClass model (uni-encoder, bi-encoder or fused bi-encoder).

Field names follow the checkpoints of the reference `gliclass` package, so a `config.json`
written by either library is read by the other.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

from transformers import AutoConfig, PretrainedConfig
from transformers.models.auto import CONFIG_MAPPING

from .calibration import check_label_biases, check_score_calibration

ARCHITECTURES = ("uni-encoder", "bi-encoder", "bi-encoder-fused")
BI_ENCODER_ARCHITECTURES = ("bi-encoder", "bi-encoder-fused")
# `pass` keeps every token state: the text side of the `cross-attn` scorer.
TEXT_POOLINGS = ("first", "avg", "max", "last", "pass")
LABEL_POOLINGS = ("first", "average")
SCORERS = ("simple", "weighted-dot", "mlp", "hopfield", "cross-attn")
# Encoders whose layers this library runs one by one (position_reader, segment_attention).
BERT_STYLE_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
PROBLEM_TYPES = ("multi_label_classification", "single_label_classification")
# What the reference reads when a checkpoint's config.json predates its `prompt_first` field.
REFERENCE_PROMPT_FIRST = False

# Reference options that change the architecture in ways this library does not implement.
# A checkpoint that turns one on is refused instead of being scored wrongly.
UNSUPPORTED_FLAGS = {
    "use_lstm": "an LSTM over the token states",
    "squeeze_layers": "layer-wise attention over all hidden states",
    "use_segment_embeddings": "segment embeddings",
    "use_calibrator": "a post-hoc calibrator",
    "multimodal": "image/audio inputs",
}


class GLiClassConfig(PretrainedConfig):
    r"""Configuration for [`GLiClassModel`].

    Args:
        encoder_config: config of the transformer backbone (object or dict with `model_type`).
        encoder_model: name or path the backbone came from (stored as `encoder_model_name`;
            informational once trained).
        label_model_config / label_model_name: the separate label encoder of the bi-encoder
            architectures (its config, and the name or path its tokenizer comes from).
        class_token_index / text_token_index / example_token_index: token ids of
            `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>`. Checkpoints whose tokenizer has no
            `<<EXAMPLE>>` token store an id past the vocabulary there (see `has_example_token`).
        pooling_strategy: text vector from the `first`, `avg`, `max` or `last` real token, or
            `pass` (all token states; only with the `cross-attn` scorer).
        class_token_pooling: label vector from the `<<LABEL>>` token (`first`) or the mean of
            its span (`average`).
        scorer_type: `simple` (dot product), `weighted-dot`, `mlp`, `hopfield` or `cross-attn`
            (labels attend to the text's token states).
        scorer_num_heads / scorer_mlp_hidden_size / scorer_attn_dropout: `cross-attn` scorer sizes.
        architecture_type: `uni-encoder` (labels and text in one input), `bi-encoder` (text and
            labels encoded apart, the labels by a second encoder) or `bi-encoder-fused` (the label
            encoder's vectors replace the `<<LABEL>>` tokens of the text input).
        normalize_features: L2-normalise text and label vectors and multiply scores by a
            learned `logit_scale`.
        logit_bias_init_value: when set (not the reference layout), a learned `logit_bias` is
            added to every logit, so sigmoid probabilities can be calibrated without moving the
            vectors; `None` (default): no bias.
        prompt_first: labels before the text (`True`) or after it (`False`). A `config.json`
            without the field (written before the reference had it) is read as the reference
            reads it, `False`, with a warning.
        embed_class_token: with `first` label pooling, read the `<<LABEL>>` token itself
            (`True`) or the token right after it (`False`).
        extract_text_features: pool the text vector only from `<<SEP>>` onward.
        encoder_layer_id: which hidden state feeds the heads (`-1`: the last layer).
        segment_isolated_layers: how many of the lowest encoder layers attend only inside each
            label's span and inside the text (0, the reference behaviour: none). Needs labels
            first and a BERT-style encoder; see `gliclass.segment_attention`.
        problem_type: `multi_label_classification` (sigmoid focal/BCE loss) or
            `single_label_classification` (cross-entropy over the candidate labels).
        focal_loss_alpha / focal_loss_gamma: focal loss settings; `alpha<0, gamma=0` is plain BCE.
        score_calibration: None (the reference behaviour), or coefficients that turn one text's logits
            into probabilities aware of how many candidates there are (`gliclass.calibration`).
        label_biases: `{label name: logit offset}` fitted by `gliclass.calibrate` from labelled
            examples; added to that label's logit wherever it is a candidate.
    """

    model_type = "GLiClass"
    is_composition = True
    has_no_defaults_at_init = True  # a backbone must be named; there is no default config

    def __init__(
        self,
        encoder_config: PretrainedConfig | dict[str, Any] | None = None,
        encoder_model: str | None = None,
        label_model_config: PretrainedConfig | dict[str, Any] | None = None,
        label_model_name: str | None = None,
        class_token_index: int = -1,
        text_token_index: int = -1,
        example_token_index: int = -1,
        hidden_size: int | None = None,
        projector_hidden_act: str = "gelu",
        vocab_size: int | None = None,
        problem_type: str = "multi_label_classification",
        max_num_classes: int = 25,
        initializer_range: float = 0.03,
        scorer_type: str = "simple",
        scorer_num_heads: int = 16,
        scorer_mlp_hidden_size: int = 1024,
        scorer_attn_dropout: float = 0.1,
        pooling_strategy: str = "first",
        class_token_pooling: str = "first",
        focal_loss_alpha: float = 0.5,
        focal_loss_gamma: float = 2.0,
        logit_scale_init_value: float = 2.6592,
        logit_bias_init_value: float | None = None,
        normalize_features: bool = False,
        extract_text_features: bool = False,
        architecture_type: str = "uni-encoder",
        prompt_first: bool = True,
        encoder_layer_id: int = -1,
        embed_class_token: bool = True,
        segment_isolated_layers: int = 0,
        dropout: float = 0.1,
        score_calibration: dict[str, float] | None = None,
        label_biases: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        # Saved as `encoder_model_name`, as the reference does; it needs a string there to load.
        encoder_model = encoder_model or kwargs.pop("encoder_model_name", None)
        self.encoder_config = _build_encoder_config(encoder_config, encoder_model)
        if architecture_type == "uni-encoder" and vocab_size not in (None, self.encoder_config.vocab_size):
            # the reference resizes a uni-encoder's token embeddings to `vocab_size` whatever encoder_config says
            self.encoder_config = copy.deepcopy(self.encoder_config)
            self.encoder_config.vocab_size = vocab_size
        self.encoder_model_name = encoder_model or self.encoder_config.name_or_path or self.encoder_config.model_type
        text_config = self.encoder_config
        self.label_model_name = label_model_name
        self.label_model_config = None
        if label_model_config is not None or (architecture_type in BI_ENCODER_ARCHITECTURES and label_model_name):
            self.label_model_config = _build_encoder_config(label_model_config, label_model_name)
        self.hidden_size = hidden_size if hidden_size is not None else text_config.hidden_size
        self.vocab_size = vocab_size if vocab_size is not None else text_config.vocab_size
        self.class_token_index = class_token_index if class_token_index != -1 else self.vocab_size
        self.text_token_index = text_token_index if text_token_index != -1 else self.vocab_size + 1
        self.example_token_index = example_token_index if example_token_index != -1 else self.vocab_size + 2
        self.projector_hidden_act = projector_hidden_act
        self.max_num_classes = max_num_classes
        self.initializer_range = initializer_range
        self.scorer_type = scorer_type
        self.scorer_num_heads = scorer_num_heads
        self.scorer_mlp_hidden_size = scorer_mlp_hidden_size
        self.scorer_attn_dropout = scorer_attn_dropout
        self.pooling_strategy = pooling_strategy
        self.class_token_pooling = class_token_pooling
        self.focal_loss_alpha = focal_loss_alpha
        self.focal_loss_gamma = focal_loss_gamma
        self.logit_scale_init_value = logit_scale_init_value
        self.logit_bias_init_value = logit_bias_init_value
        self.normalize_features = normalize_features
        self.extract_text_features = extract_text_features
        self.architecture_type = architecture_type
        self.prompt_first = prompt_first
        self.encoder_layer_id = encoder_layer_id
        self.embed_class_token = embed_class_token
        self.segment_isolated_layers = segment_isolated_layers
        self.dropout = dropout
        self.score_calibration = check_score_calibration(score_calibration)
        self.label_biases = check_label_biases(label_biases)
        self.pad_token_id = text_config.pad_token_id
        super().__init__(problem_type=problem_type, **kwargs)
        self.validate_options()

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> GLiClassConfig:
        """As `PretrainedConfig.from_dict`; a config without `prompt_first` gets the reference's reading.
        Options given as `kwargs` (`from_pretrained(path, segment_isolated_layers=2)`) are set after
        `__init__`, so the options are checked again with them."""
        if "prompt_first" not in config_dict and "prompt_first" not in kwargs:
            warnings.warn(
                "this GLiClass config has no prompt_first (it predates the field): reading it as the reference "
                "package does, text before labels (prompt_first=False). Set model.config.prompt_first if the "
                "checkpoint was trained with labels first.",
                stacklevel=2,
            )
            config_dict = {**config_dict, "prompt_first": REFERENCE_PROMPT_FIRST}
        loaded = super().from_dict(config_dict, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).validate_options()
        return loaded

    def validate_options(self) -> None:
        """Raise `ValueError` naming any option this library cannot run faithfully."""
        _check_choice("architecture_type", self.architecture_type, ARCHITECTURES)
        _check_choice("pooling_strategy", self.pooling_strategy, TEXT_POOLINGS)
        _check_choice("class_token_pooling", self.class_token_pooling, LABEL_POOLINGS)
        _check_choice("scorer_type", self.scorer_type, SCORERS)
        _check_choice("problem_type", self.problem_type, PROBLEM_TYPES)
        for flag, what in UNSUPPORTED_FLAGS.items():
            if getattr(self, flag, False):
                raise ValueError(f"GLiClass config sets {flag}=True ({what}); this library does not support it.")
        label_slots = getattr(self, "max_labels_alloc", "dynamic")
        if self.scorer_type == "hopfield" and label_slots != "dynamic":
            raise ValueError(
                f"GLiClass config sets max_labels_alloc={label_slots!r} with the hopfield scorer, whose softmax over "
                "labels then includes padded label slots; this library supports only max_labels_alloc='dynamic' there."
            )
        if not _is_count(self.hidden_size) or self.hidden_size < 1:
            raise ValueError(f"hidden_size={self.hidden_size!r} must be a positive integer (the projectors' width).")
        if self.hidden_size != self.encoder_config.hidden_size and self.scorer_type != "simple":
            raise ValueError(
                f"hidden_size={self.hidden_size} differs from the encoder's {self.encoder_config.hidden_size}; "
                f"scorer {self.scorer_type!r} needs them equal."
            )
        if self.extract_text_features and self.pooling_strategy == "last":
            raise ValueError("extract_text_features=True with pooling_strategy='last' is not supported.")
        if (self.scorer_type == "cross-attn") != (self.pooling_strategy == "pass"):
            raise ValueError(
                f"scorer_type={self.scorer_type!r} with pooling_strategy={self.pooling_strategy!r}: the "
                "'cross-attn' scorer reads every token state and needs pooling_strategy='pass', "
                "which no other scorer reads."
            )
        if self.scorer_type == "cross-attn" and self.hidden_size % self.scorer_num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by scorer_num_heads={self.scorer_num_heads}."
            )
        if self.architecture_type in BI_ENCODER_ARCHITECTURES:
            self._validate_bi_encoder()
        num_layers = getattr(self.encoder_config, "num_hidden_layers", None)
        if not _is_count(self.encoder_layer_id):  # True would read layer 1
            raise ValueError(f"encoder_layer_id={self.encoder_layer_id!r} must be an integer (-1: the last layer).")
        if num_layers is not None and not -num_layers - 1 <= self.encoder_layer_id <= num_layers:
            raise ValueError(f"encoder_layer_id={self.encoder_layer_id} is outside the encoder's {num_layers} layers.")
        self._validate_segment_isolation(num_layers)

    @property
    def is_bi_encoder(self) -> bool:
        """True for the architectures with a separate label encoder."""
        return self.architecture_type in BI_ENCODER_ARCHITECTURES

    @property
    def has_example_token(self) -> bool:
        """True when `example_token_index` is a real token of the encoder's vocabulary.

        Checkpoints trained without a `<<EXAMPLE>>` token store `vocab_size + 2` there (the
        reference default); the marker text is then tokenized as plain text.
        """
        return 0 <= self.example_token_index < self.vocab_size

    def marker_token_ids(self) -> tuple[int, ...]:
        """Ids that start a new segment of a uni-encoder input: `<<LABEL>>`, `<<SEP>>`, and `<<EXAMPLE>>`
        when it exists."""
        markers = (self.class_token_index, self.text_token_index)
        return markers + (self.example_token_index,) if self.has_example_token else markers

    def _validate_bi_encoder(self) -> None:
        if self.label_model_config is None or not self.label_model_name:
            raise ValueError(
                f"architecture_type={self.architecture_type!r} needs label_model_config and label_model_name "
                "(the label encoder)."
            )
        if self.pooling_strategy == "pass" or self.scorer_type == "cross-attn":
            raise ValueError(f"architecture_type={self.architecture_type!r} does not support scorer_type='cross-attn'.")
        if self.segment_isolated_layers:
            raise ValueError(
                f"segment_isolated_layers works with the uni-encoder only, not {self.architecture_type!r}."
            )

    def _validate_segment_isolation(self, num_layers: int | None) -> None:
        isolated = self.segment_isolated_layers
        if not _is_count(isolated) or isolated < 0 or (num_layers is not None and isolated > num_layers):
            raise ValueError(f"segment_isolated_layers={isolated!r} must be an integer from 0 to {num_layers}.")
        if isolated == 0:
            return
        if not self.prompt_first:
            raise ValueError("segment_isolated_layers needs prompt_first=True (labels before the text).")
        if self.pooling_strategy == "pass":
            raise ValueError(
                "segment_isolated_layers does not work with the 'cross-attn' scorer (pooling_strategy='pass')."
            )
        model_type = self.encoder_config.model_type
        absolute = getattr(self.encoder_config, "position_embedding_type", "absolute") == "absolute"
        if model_type not in BERT_STYLE_MODEL_TYPES or not absolute:
            raise ValueError(
                f"segment_isolated_layers works with BERT-style encoders with absolute positions "
                f"({', '.join(BERT_STYLE_MODEL_TYPES)}), not {model_type!r}."
            )


def _is_count(value: Any) -> bool:
    """An `int` that is not a `bool` (`True` passes for 1 in arithmetic but is no layer count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {', '.join(map(repr, choices))}.")


def _build_encoder_config(
    encoder_config: PretrainedConfig | dict[str, Any] | None, encoder_model: str | None
) -> PretrainedConfig:
    if isinstance(encoder_config, PretrainedConfig):
        return encoder_config
    if isinstance(encoder_config, dict):
        fields = dict(encoder_config)
        model_type = fields.pop("model_type", None)
        if model_type is None:
            raise ValueError("encoder_config has no 'model_type'; cannot tell which backbone it describes.")
        if model_type not in CONFIG_MAPPING:
            raise ValueError(f"encoder_config model_type {model_type!r} is unknown to this transformers version.")
        return CONFIG_MAPPING[model_type](**fields)
    if encoder_model is not None:
        try:
            return AutoConfig.from_pretrained(encoder_model)
        except OSError as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise OSError(
                f"the config has no encoder_config, and loading the config of its encoder_model {encoder_model!r} "
                f"failed: {reason}"
            ) from error
    raise ValueError("GLiClassConfig needs encoder_config or encoder_model to know its backbone.")


GLiClassModelConfig = GLiClassConfig  # the reference package's name, for code written against it

"""The GLiClass uni-encoder: labels and text in one encoder pass, one logit per label.

Input: `[CLS] <<LABEL>>l1 <<LABEL>>l2 ... <<SEP>> text [SEP]` (or the text first). The encoder
contextualises everything together; a vector is read at each `<<LABEL>>` token (or averaged
over its span) and one for the text (pooled over real tokens); both go through a projector and
a scorer gives one logit per label.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers import initialization as init
from transformers.utils import ModelOutput

from . import pooling
from .bi_encoder import GLiClassBiEncoder
from .checkpoint import (
    check_hub_weights,
    check_loading_info,
    check_model_location,
    check_model_type,
    check_save_folder,
    check_saved_tokenizer_error,
    check_tokenizer_size,
    hub_options,
    is_gliclass_checkpoint,
    local_or_hub_name,
    remove_stale_weights,
    save_tokenizer,
    without_load_report,
)
from .config import BI_ENCODER_ARCHITECTURES, UNSUPPORTED_FLAGS, GLiClassConfig
from .heads import GLiClassCore, new_encoder
from .labels_apart import LABEL_TOKENIZER_DIR, load_label_tokenizer
from .losses import masked_cross_entropy, sigmoid_focal_loss
from .position_reader import PositionReadingRunner
from .prompt import SPECIAL_TOKENS
from .segment_attention import SegmentIsolatedRunner


@dataclass
class GLiClassOutput(ModelOutput):
    """Output of [`GLiClassModel`].

    `logits` is `(batch, labels)`, `labels` being the most `<<LABEL>>` tokens in any row;
    `label_mask` marks the real ones (padded entries hold a large negative logit).
    `text_embeddings` `(batch, dim)` and `label_embeddings` `(batch, labels, dim)` are the projected
    vectors scored; with `pooling_strategy='pass'` the text side is every token `(batch, seq, dim)`
    and `text_mask` `(batch, seq)` marks the tokens that are the text.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    label_mask: torch.Tensor | None = None
    text_embeddings: torch.Tensor | None = None
    label_embeddings: torch.Tensor | None = None
    text_mask: torch.Tensor | None = None


class LayerRunner:
    """Callable `(input_ids, attention_mask) -> states (batch, seq, dim)` of the encoder layer the
    heads read (`encoder_layer_id`). Shares the encoder's parameters; it is not an `nn.Module`."""

    def __init__(self, encoder: nn.Module, layer: int) -> None:
        self.encoder = encoder
        self.layer = layer

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        outputs = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.layer != -1, return_dict=True
        )
        return outputs.last_hidden_state if self.layer == -1 else outputs.hidden_states[self.layer]


class GLiClassUniEncoder(GLiClassCore):
    """Backbone plus heads; parameter names match the reference checkpoints.

    The backbone runner is chosen once, from the config: segment-isolated layers
    (`segment_attention`) or the plain encoder, plus, where the heads read single positions of
    the last layer of a BERT-style encoder, the exact shortcut that runs that layer only there
    (`position_reader`, used without autograd).
    """

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__(config, new_encoder(config.encoder_config))
        layer = config.encoder_layer_id
        if config.segment_isolated_layers:
            markers = config.marker_token_ids()
            self.backbone = SegmentIsolatedRunner(self.encoder_model, config.segment_isolated_layers, markers, layer)
        else:
            self.backbone = LayerRunner(self.encoder_model, layer)
        last_layer = layer in (-1, getattr(config.encoder_config, "num_hidden_layers", None))
        self.position_reader = None
        if self.reads_single_positions() and last_layer and not config.segment_isolated_layers:
            self.position_reader = PositionReadingRunner.for_encoder(self.encoder_model)

    def reads_single_positions(self) -> bool:
        """True when the heads read only a few token positions (no span or sequence averages)."""
        cfg = self.config
        return cfg.pooling_strategy in ("first", "last") and cfg.class_token_pooling == "first"

    @property
    def encodes_labels_apart(self) -> bool:
        """True when a label's vector depends on the label alone and the text's on the text alone.

        So it is when every layer up to the one the heads read is segment-isolated and the text
        is pooled from `<<SEP>>` on; labels and texts can then be encoded apart (and labels once).
        """
        cfg = self.config
        if not cfg.segment_isolated_layers or not cfg.extract_text_features:
            return False
        depth = cfg.encoder_config.num_hidden_layers
        read = cfg.encoder_layer_id if cfg.encoder_layer_id >= 0 else depth + 1 + cfg.encoder_layer_id
        return cfg.segment_isolated_layers >= read

    def features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw text vectors `(batch, dim)`, label vectors `(batch, labels, dim)` and the label mask.

        With `pooling_strategy='pass'` the text side is every token state `(batch, seq, dim)`;
        `text_mask()` tells which of them the scorer reads.
        """
        cfg = self.config
        shift = 0 if cfg.embed_class_token else 1
        label_positions, label_mask = pooling.label_token_positions(input_ids, cfg.class_token_index, shift)
        text_mask = self.text_mask(input_ids, attention_mask)
        if self.position_reader is not None and not self.training and not torch.is_grad_enabled():
            text_position = pooling.edge_positions(text_mask.bool(), cfg.pooling_strategy).unsqueeze(1)
            states = self.position_reader(input_ids, attention_mask, torch.cat([text_position, label_positions], 1))
            return states[:, 0], states[:, 1:], label_mask

        hidden = self.backbone(input_ids, attention_mask)
        text = hidden if cfg.pooling_strategy == "pass" else self._pool_text(hidden, text_mask, attention_mask)
        if cfg.class_token_pooling == "first":
            labels = pooling.gather_positions(hidden, label_positions)
        else:
            end = cfg.text_token_index if cfg.extract_text_features else None
            labels = pooling.label_span_mean(
                hidden,
                input_ids,
                attention_mask,
                cfg.class_token_index,
                end,
                cfg.embed_class_token,
                label_mask.shape[1],
            )
        return text, labels, label_mask

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Projected vectors `(batch, dim)` of text rows (`[CLS] <<SEP>> text [SEP]`, no labels)."""
        self._check_apart()
        missing = ~(input_ids == self.config.text_token_index).any(1)
        if missing.any():  # the text is pooled from <<SEP>> on: without it every row got one same vector
            raise ValueError(
                f"text row {int(missing.nonzero()[0])} has no <<SEP>> token; text rows are `[CLS] <<SEP>> text [SEP]` "
                "(gliclass.labels_apart builds them)."
            )
        text, _, _ = self.features(input_ids, attention_mask)
        return self.project_text(text)

    def label_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Projected vectors `(labels, dim)` of label rows (`<<LABEL>> label`, one label per row).

        `pooling_mask` is for bi-encoders; label spans here are pooled over their real tokens."""
        self._check_apart()
        counts = (input_ids == self.config.class_token_index).sum(1)
        if (counts != 1).any():
            row = int((counts != 1).nonzero()[0])
            raise ValueError(
                f"label row {row} holds {int(counts[row])} <<LABEL>> tokens; each label row is `<<LABEL>> label` "
                "(gliclass.labels_apart builds them)."
            )
        _, labels, _ = self.features(input_ids, attention_mask)
        return self.project_labels(labels[:, 0])

    def _check_apart(self) -> None:
        if not self.encodes_labels_apart:
            raise ValueError(
                "labels and texts of this model are encoded together (not every layer is segment-isolated); "
                "score joint rows with forward()."
            )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> GLiClassOutput:
        text, labels, label_mask = self.features(input_ids, attention_mask)
        text, labels = self.project_text(text), self.project_labels(labels)
        text_mask = self.text_mask(input_ids, attention_mask) if self.config.pooling_strategy == "pass" else None
        logits = self.score(text, labels, label_mask, text_mask)
        return GLiClassOutput(
            logits=logits, label_mask=label_mask, text_embeddings=text, label_embeddings=labels, text_mask=text_mask
        )

    def text_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tokens the text vector is pooled from: all real tokens, or from `<<SEP>>` on."""
        if not self.config.extract_text_features:
            return attention_mask
        after_sep = (input_ids == self.config.text_token_index).long().cumsum(1) > 0
        return attention_mask * after_sep

    def _pool_text(self, hidden: torch.Tensor, text_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        strategy = self.config.pooling_strategy
        pooled = pooling.pool_text(hidden, text_mask, strategy)
        if not self.config.extract_text_features or strategy == "first" or self.config.segment_isolated_layers:
            return pooled  # segment-isolated models pool the text segment alone (not reference-compatible anyway)
        # The reference pools the `<<SEP>>`-onward tokens inside a zero-filled buffer as long as the
        # whole input: an average over all real tokens, and a max that includes zero.
        if strategy == "avg":
            share = text_mask.sum(1) / attention_mask.sum(1)
            return pooled * share.unsqueeze(-1).to(pooled.dtype)
        return pooled.clamp(min=0)


def _check_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor, kind: str) -> None:
    """Token rows `(rows, seq)`, at least one, with an attention mask of the same shape."""
    if input_ids.dim() != 2 or input_ids.shape[0] == 0 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"{kind} rows must be input_ids (rows, seq) with at least one row and an attention_mask of the same "
            f"shape, got {tuple(input_ids.shape)} and {tuple(attention_mask.shape)}."
        )


def _init_heads(core: GLiClassCore) -> None:
    """Variance-preserving init of the heads, so a new model does not start at the all-zero saddle.

    With tiny weights both sides of the dot product vanish and so do their gradients; here the
    projectors keep the scale of the encoder states and the final projection is scaled so that
    a text·label dot product starts with a standard deviation near 1.
    """
    dim = core.config.encoder_config.hidden_size
    heads = [core.text_projector, core.classes_projector, core.scorer]
    if isinstance(core, GLiClassBiEncoder):
        heads.append(core.biencoder_projector)
    for head in heads:
        for layer in head.modules():
            if isinstance(layer, nn.Linear):
                std = layer.in_features**-0.5
                if head is not core.scorer and layer is head.linear_2:
                    std *= dim**-0.25
                init.normal_(layer.weight, mean=0.0, std=std)
                if layer.bias is not None:
                    init.zeros_(layer.bias)


def _check_bidirectional(encoder: PreTrainedModel, name_or_path: str) -> None:
    """Raise `ValueError` for a decoder or encoder-decoder backbone: with causal attention the
    labels, read before the text, never see it, and every text got the same scores."""
    config = encoder.config
    causal = any(getattr(module, "is_causal", False) is True for module in encoder.modules())
    if causal or getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"{name_or_path} is not an encoder (model_type {config.model_type!r} is a decoder or encoder-decoder); "
            "GLiClassModel.from_backbone needs an encoder whose tokens attend both ways (BERT, RoBERTa, DeBERTa, "
            "ModernBERT, ...)."
        )


def _start_as_embedder(core: GLiClassUniEncoder, tokenizer: PreTrainedTokenizerBase) -> None:
    """Identity projectors (`W2·act(W1·x) = x` with `W1 = [I; -I]`, `W2 = [I, -I]`) and new tokens copying `[CLS]`."""
    cfg = core.config
    dim = cfg.encoder_config.hidden_size
    if cfg.scorer_type != "simple" or cfg.hidden_size < 2 * dim:
        raise ValueError(
            f"start_as_embedder needs scorer_type='simple' and hidden_size >= {2 * dim} (twice the encoder's), "
            f"got {cfg.scorer_type!r} and {cfg.hidden_size}."
        )
    probe = torch.linspace(-4, 4, 81)
    activation = core.text_projector.act
    if not torch.allclose(activation(probe) - activation(-probe), probe, atol=1e-5):
        raise ValueError(
            f"start_as_embedder needs an activation with act(x) - act(-x) = x; {cfg.projector_hidden_act!r} is not."
        )
    identity = torch.eye(dim)
    with torch.no_grad():
        for projector in (core.text_projector, core.classes_projector):
            projector.linear_1.weight.zero_()
            projector.linear_1.weight[:dim] = identity
            projector.linear_1.weight[dim : 2 * dim] = -identity
            projector.linear_2.weight.zero_()
            projector.linear_2.weight[:, :dim] = identity
            projector.linear_2.weight[:, dim : 2 * dim] = -identity
            projector.linear_1.bias.zero_()
            projector.linear_2.bias.zero_()
        start_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        if start_id is None:
            raise ValueError("start_as_embedder needs a tokenizer with a [CLS] or <s> token to copy.")
        embeddings = core.encoder_model.get_input_embeddings().weight
        for token_id in cfg.marker_token_ids():
            embeddings[token_id] = embeddings[start_id]


class GLiClassModel(PreTrainedModel):
    """GLiClass classifier: scores any set of candidate labels for a text.

    `config.architecture_type` picks the core (`model.model`): the uni-encoder (labels and text
    in one encoder pass) or a bi-encoder (a separate label encoder; `bi-encoder-fused` feeds its
    vectors into the text encoder). Load a trained model with
    `GLiClassModel.from_pretrained(path_or_id)` (its tokenizer comes along as `model.tokenizer`,
    a bi-encoder's label tokenizer as `model.label_tokenizer`), or start a new uni-encoder from
    any encoder with `GLiClassModel.from_backbone(name_or_path, **config_options)`.

    Models whose labels never see the text (`encodes_labels_apart`: bi-encoders, fully
    segment-isolated uni-encoders) also score in steps, so label vectors are computed once and
    reused: `get_label_features` → `get_text_features` → `score` (`bi-encoder-fused`: its text
    rows take the label vectors, `get_fused_features`).
    """

    config_class = GLiClassConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _keys_to_ignore_on_load_unexpected = [r"position_ids"]

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__(config)
        self.model = GLiClassBiEncoder(config) if config.is_bi_encoder else GLiClassUniEncoder(config)
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.label_tokenizer: PreTrainedTokenizerBase | None = None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, GLiClassCore):
            _init_heads(module)
            init.constant_(module.logit_scale, float(self.config.logit_scale_init_value))
            if module.logit_bias is not None:
                init.constant_(module.logit_bias, float(self.config.logit_bias_init_value))

    @property
    def text_encoder(self) -> nn.Module:
        """The transformer backbone that reads the text (`model.encoder_model` in the state dict)."""
        return self.model.encoder_model

    def get_input_embeddings(self) -> nn.Module:
        return self.model.encoder_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.encoder_model.set_input_embeddings(value)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, **kwargs: Any) -> nn.Embedding:
        embeddings = self.model.encoder_model.resize_token_embeddings(new_num_tokens, **kwargs)
        self.config.encoder_config.vocab_size = embeddings.num_embeddings
        self.config.vocab_size = embeddings.num_embeddings
        return embeddings

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        class_input_ids: torch.Tensor | None = None,
        class_attention_mask: torch.Tensor | None = None,
        labels_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> GLiClassOutput:
        """Score every label of each row.

        Uni-encoder: the labels are the `<<LABEL>>` tokens of `input_ids`. Bi-encoders: the labels
        are `class_input_ids`/`class_attention_mask` `(batch, labels, seq)` (label tokenizer),
        `labels_mask` `(batch, labels)` marking the real ones; see `gliclass.labels_apart`.
        `labels`, when given, is `(batch, labels)` with 1 for true labels (soft values allowed);
        the loss follows `config.problem_type`.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if self.config.is_bi_encoder:
            if class_input_ids is None or class_attention_mask is None:
                raise ValueError(
                    f"a {self.config.architecture_type} model needs class_input_ids and class_attention_mask."
                )
            logits, label_mask, text, label_vectors = self.model(
                input_ids, attention_mask, class_input_ids, class_attention_mask, labels_mask
            )
            output = GLiClassOutput(
                logits=logits, label_mask=label_mask, text_embeddings=text, label_embeddings=label_vectors
            )
        else:
            output = self.model(input_ids, attention_mask)
        if labels is not None:
            output.loss = self.loss(output.logits, labels, output.label_mask)
        return output

    @property
    def encodes_labels_apart(self) -> bool:
        """True when label vectors depend on the label alone and text vectors on the text alone
        (`bi-encoder`, or a uni-encoder with every layer segment-isolated): labels can then be
        encoded once with `get_label_features`, texts with `get_text_features`, and `score`d."""
        return self.model.encodes_labels_apart

    def get_label_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Projected label vectors `(labels, dim)`, one per row of label tokens `(labels, seq)`.

        Rows are built by `gliclass.labels_apart` (uni-encoder: `<<LABEL>> label`; bi-encoder: the
        label tokenizer's ids); a bi-encoder pools over `pooling_mask` (default: the real tokens).
        """
        _check_rows(input_ids, attention_mask, "label")
        return self.model.label_features(input_ids, attention_mask, pooling_mask)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Projected text vectors `(batch, dim)` of text rows that hold no labels."""
        _check_rows(input_ids, attention_mask, "text")
        return self.model.text_features(input_ids, attention_mask)

    def get_fused_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_features: torch.Tensor,
        labels_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`bi-encoder-fused`: text vectors `(batch, dim)` and label vectors `(batch, labels, dim)` of rows
        whose `<<LABEL>>` tokens take `label_features` `(batch, labels, dim)` (from `get_label_features`)."""
        if not isinstance(self.model, GLiClassBiEncoder) or not self.model.fused:
            raise ValueError(
                f"get_fused_features is for bi-encoder-fused models, not {self.config.architecture_type!r}."
            )
        return self.model.fused_features(input_ids, attention_mask, label_features, labels_mask)

    def score(
        self,
        text_features: torch.Tensor,
        label_features: torch.Tensor,
        label_mask: torch.Tensor,
        text_mask: torch.Tensor | None = None,
        calibrated: bool = True,
    ) -> torch.Tensor:
        """Logits `(batch, labels)` of text `(batch, dim)` and label `(batch, labels, dim)` vectors;
        `text_mask` `(batch, seq)` with token-level text (`pooling_strategy='pass'`);
        `calibrated=False` gives the scorer's raw similarity (no logit scale or bias)."""
        if (
            text_features.dim() not in (2, 3)
            or label_features.dim() != 3
            or label_mask.shape != label_features.shape[:2]
            or text_features.shape[0] != label_features.shape[0]
        ):
            raise ValueError(
                "score takes text vectors (batch, dim) (token-level: (batch, seq, dim)), label vectors "
                f"(batch, labels, dim) and a label_mask (batch, labels); got {tuple(text_features.shape)}, "
                f"{tuple(label_features.shape)} and {tuple(label_mask.shape)} (label vectors shared by every text: "
                "label_features.expand(batch, -1, -1))."
            )
        return self.model.score(text_features, label_features, label_mask, text_mask, calibrated)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
        """Training loss for `(batch, labels)` logits and targets."""
        if targets.shape != logits.shape:
            raise ValueError(f"labels have shape {tuple(targets.shape)} but the logits are {tuple(logits.shape)}.")
        if self.config.problem_type == "single_label_classification":
            return masked_cross_entropy(logits, targets, label_mask)
        return sigmoid_focal_loss(
            logits, targets, label_mask, alpha=self.config.focal_loss_alpha, gamma=self.config.focal_loss_gamma
        )

    @classmethod
    def from_backbone(
        cls,
        name_or_path: str,
        tokenizer: PreTrainedTokenizerBase | None = None,
        start_as_embedder: bool = False,
        **config_options: Any,
    ) -> GLiClassModel:
        """A new GLiClass model on top of a pretrained encoder (hub id or local folder).

        Adds the `<<LABEL>>`, `<<SEP>>` and `<<EXAMPLE>>` tokens to the tokenizer, resizes the
        embeddings, and keeps the pretrained encoder weights; the heads start random, so the model
        must be trained before it classifies anything.

        `start_as_embedder=True` starts the projectors as exact identity maps and the new tokens as
        copies of `[CLS]`: with `normalize_features`, average pooling and all layers
        segment-isolated, the untrained model scores labels by the cosine similarity of the
        backbone's mean-pooled embeddings, and training starts from there.
        """
        known = set(inspect.signature(GLiClassConfig.__init__).parameters) - {"self", "kwargs"}
        unknown = sorted(set(config_options) - known - set(UNSUPPORTED_FLAGS))  # the config refuses those by name
        if unknown:  # a typo would otherwise be stored in the config and silently do nothing
            names = ", ".join(map(repr, unknown))
            raise TypeError(f"unknown model option(s) {names}; the options are {', '.join(sorted(known))}.")
        architecture = config_options.get("architecture_type")
        if architecture in BI_ENCODER_ARCHITECTURES:  # its label encoder would be random, its label tokenizer missing
            raise ValueError(
                f"from_backbone starts a uni-encoder, not architecture_type={architecture!r}: the label encoder "
                "would not be loaded from label_model_name but start random. Load a trained bi-encoder with "
                "GLiClassModel.from_pretrained."
            )
        if is_gliclass_checkpoint(name_or_path):
            raise ValueError(
                f"{name_or_path} is a GLiClass checkpoint, not a backbone encoder: load it with "
                "GLiClassModel.from_pretrained (training continues from it as it is)."
            )
        if not isinstance(start_as_embedder, bool):
            raise TypeError(f"start_as_embedder must be True or False, got {start_as_embedder!r}.")
        # a given tokenizer is copied: the markers are added to the model's own, not to the caller's
        tokenizer = copy.deepcopy(tokenizer) if tokenizer is not None else AutoTokenizer.from_pretrained(name_or_path)
        tokenizer.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
        encoder = AutoModel.from_pretrained(name_or_path, dtype=torch.float32)  # fp32 master weights
        _check_bidirectional(encoder, name_or_path)
        if len(tokenizer) > encoder.get_input_embeddings().num_embeddings:
            encoder.resize_token_embeddings(len(tokenizer))
        label_id, sep_id, example_id = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
        config = GLiClassConfig(
            encoder_config=encoder.config,
            encoder_model=str(name_or_path),
            class_token_index=label_id,
            text_token_index=sep_id,
            example_token_index=example_id,
            **config_options,
        )
        model = cls(config)
        model.text_encoder.load_state_dict(encoder.state_dict())
        model.tokenizer = tokenizer
        if start_as_embedder:
            _start_as_embedder(model.model, tokenizer)
        return model

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *args: Any, **kwargs: Any) -> GLiClassModel:
        """Load a GLiClass checkpoint (ours or the reference package's) and its tokenizer.

        Only safetensors weights are read, in float32 unless `dtype=` says otherwise. A local
        folder is checked first: a missing folder or config, another `model_type`, missing or
        truncated weights, and weights lacking any tensor of the model (random heads) give a clear
        error instead of a half-loaded model.
        """
        name_or_path = local_or_hub_name(name_or_path)
        check_model_location(name_or_path, kwargs.get("subfolder") or "")
        if not isinstance(kwargs.get("config"), GLiClassConfig):
            check_model_type(name_or_path, kwargs)
        if not Path(name_or_path).expanduser().is_dir():
            check_hub_weights(str(name_or_path), hub_options(kwargs))
        kwargs["use_safetensors"] = True
        if "torch_dtype" in kwargs:  # transformers' older name for dtype
            torch_dtype = kwargs.pop("torch_dtype")
            if kwargs.get("dtype") is not None and torch_dtype is not None and torch_dtype != kwargs["dtype"]:
                raise ValueError(f"dtype={kwargs['dtype']!r} and torch_dtype={torch_dtype!r} disagree; give one.")
            kwargs["dtype"] = kwargs.get("dtype") or torch_dtype
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = torch.float32  # fp16 checkpoints are upcast; pass dtype= to keep them
        report_wanted = kwargs.pop("output_loading_info", False)
        kwargs["ignore_mismatched_sizes"] = True  # reshaped tensors are refused below, named with their shapes
        try:
            with without_load_report():
                model, loading_info = super().from_pretrained(name_or_path, *args, output_loading_info=True, **kwargs)
        except RuntimeError as error:  # e.g. weights transformers cannot convert
            reason = str(error).strip().splitlines()[0]
            raise ValueError(
                f"the weights of {name_or_path} do not fit the model its config describes: {reason}"
            ) from error
        check_loading_info(loading_info, name_or_path)
        try:
            model.tokenizer = AutoTokenizer.from_pretrained(name_or_path, **hub_options(kwargs))
        except (OSError, ValueError) as error:
            check_saved_tokenizer_error(name_or_path, error)
            model.tokenizer = None
        check_tokenizer_size(model.tokenizer, model.get_input_embeddings().num_embeddings, name_or_path)
        if model.config.is_bi_encoder:
            model.label_tokenizer = load_label_tokenizer(model.config, name_or_path, **hub_options(kwargs))
            label_rows = model.model.label_encoder.get_input_embeddings().num_embeddings
            check_tokenizer_size(model.label_tokenizer, label_rows, f"{name_or_path} (label tokenizer)")
        return (model, loading_info) if report_wanted else model

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> None:
        """Save config, safetensors weights and the tokenizers the model has (a bi-encoder's label
        tokenizer in the `label_tokenizer/` subfolder). An existing file at `save_directory` is an `OSError`; a
        folder that holds an earlier save keeps only the new save's weights (single file or shards)."""
        folder = check_save_folder(save_directory)
        super().save_pretrained(folder, *args, **kwargs)
        remove_stale_weights(folder)
        if self.tokenizer is not None:
            save_tokenizer(self.tokenizer, folder)
        if self.label_tokenizer is not None:
            save_tokenizer(self.label_tokenizer, folder / LABEL_TOKENIZER_DIR)

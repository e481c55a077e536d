"""The GLiClass uni-encoder: labels and text in one encoder pass, one logit per label.

Input: `[CLS] <<LABEL>>l1 <<LABEL>>l2 ... <<SEP>> text [SEP]` (or the text first). The encoder
contextualises everything together; a vector is read at each `<<LABEL>>` token (or averaged
over its span) and one for the text (pooled over real tokens); both go through a projector and
a scorer gives one logit per label.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers import initialization as init
from transformers.utils import ModelOutput

from . import pooling
from .checkpoint import check_checkpoint_folder
from .config import GLiClassConfig
from .heads import FeaturesProjector, build_scorer
from .losses import masked_cross_entropy, sigmoid_focal_loss
from .partial_encoder import PositionReadingEncoder
from .prompt import SPECIAL_TOKENS
from .segment_attention import SegmentIsolatedEncoder

PADDED_LABEL_LOGIT = -1e4


@dataclass
class GLiClassOutput(ModelOutput):
    """Output of [`GLiClassModel`].

    `logits` is `(batch, labels)`, `labels` being the most `<<LABEL>>` tokens in any row;
    `label_mask` marks the real ones (padded entries hold a large negative logit).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    label_mask: torch.Tensor | None = None
    text_embeddings: torch.Tensor | None = None
    label_embeddings: torch.Tensor | None = None


class GLiClassUniEncoder(nn.Module):
    """Backbone plus heads; parameter names match the reference checkpoints."""

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder_model = AutoModel.from_config(config.encoder_config)
        self.text_projector = FeaturesProjector(config)
        self.classes_projector = FeaturesProjector(config)
        self.scorer = build_scorer(config)
        self.dropout = nn.Dropout(config.dropout)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        self.logit_bias = None
        if config.logit_bias_init_value is not None:
            self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init_value)))
        self.position_reader = PositionReadingEncoder.for_encoder(self.encoder_model)
        self.segment_encoder = None
        if config.segment_isolated_layers:
            markers = (config.class_token_index, config.text_token_index, config.example_token_index)
            self.segment_encoder = SegmentIsolatedEncoder(self.encoder_model, config.segment_isolated_layers, markers)

    def reads_single_positions(self) -> bool:
        """True when the heads read only a few token positions (no span or sequence averages)."""
        cfg = self.config
        return cfg.pooling_strategy in ("first", "last") and cfg.class_token_pooling == "first"

    def features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw text vectors `(batch, dim)`, label vectors `(batch, labels, dim)` and the label mask."""
        cfg = self.config
        shift = 0 if cfg.embed_class_token else 1
        label_positions, label_mask = pooling.label_token_positions(input_ids, cfg.class_token_index, shift)
        text_mask = self._text_mask(input_ids, attention_mask)

        last_layer = cfg.encoder_layer_id in (-1, getattr(cfg.encoder_config, "num_hidden_layers", None))
        if (
            self.reads_single_positions()
            and last_layer
            and self.segment_encoder is None
            and self.position_reader is not None
            and not self.training
            and not torch.is_grad_enabled()
        ):
            text_position = pooling.edge_positions(text_mask.bool(), cfg.pooling_strategy).unsqueeze(1)
            states = self.position_reader(input_ids, attention_mask, torch.cat([text_position, label_positions], 1))
            return states[:, 0], states[:, 1:], label_mask

        hidden = self._hidden_states(input_ids, attention_mask)
        text = self._pool_text(hidden, text_mask, attention_mask)
        if cfg.class_token_pooling == "first":
            labels = pooling.gather_positions(hidden, label_positions)
        else:
            end = cfg.text_token_index if cfg.extract_text_features else None
            labels = pooling.label_span_mean(
                hidden, input_ids, attention_mask, cfg.class_token_index, end, cfg.embed_class_token, label_mask.shape[1]
            )
        return text, labels, label_mask

    def labels_are_independent(self) -> bool:
        """True when a label's vector depends on the label alone and the text's on the text alone.

        So it is when every layer up to the one the heads read is segment-isolated and the text
        is pooled from `<<SEP>>` on; labels and texts can then be encoded apart (and labels once).
        """
        cfg = self.config
        if self.segment_encoder is None or not cfg.extract_text_features:
            return False
        depth = cfg.encoder_config.num_hidden_layers
        read = cfg.encoder_layer_id if cfg.encoder_layer_id >= 0 else depth + 1 + cfg.encoder_layer_id
        return cfg.segment_isolated_layers >= read

    def project(self, text: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected (and, with `normalize_features`, unit-length) text and label vectors."""
        text = self.dropout(self.text_projector(text))
        labels = self.classes_projector(labels)
        if self.config.normalize_features:
            text = text / (text.norm(p=2, dim=-1, keepdim=True) + 1e-8)
            labels = labels / (labels.norm(p=2, dim=-1, keepdim=True) + 1e-8)
        return text, labels

    def score(self, text: torch.Tensor, labels: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
        """Logits `(batch, labels)` of projected vectors; padded labels get a large negative logit."""
        logits = self.scorer(text, labels)
        if self.config.normalize_features:
            logits = logits * self.logit_scale
        if self.logit_bias is not None:
            logits = logits + self.logit_bias
        return logits.masked_fill(~label_mask, PADDED_LABEL_LOGIT)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> GLiClassOutput:
        text, labels, label_mask = self.features(input_ids, attention_mask)
        text, labels = self.project(text, labels)
        logits = self.score(text, labels, label_mask)
        return GLiClassOutput(logits=logits, label_mask=label_mask, text_embeddings=text, label_embeddings=labels)

    def _hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        layer = self.config.encoder_layer_id
        if self.segment_encoder is not None:
            return self.segment_encoder(input_ids, attention_mask)[layer]
        outputs = self.encoder_model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=layer != -1, return_dict=True
        )
        return outputs.last_hidden_state if layer == -1 else outputs.hidden_states[layer]

    def _text_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tokens the text vector is pooled from: all real tokens, or from `<<SEP>>` on."""
        if not self.config.extract_text_features:
            return attention_mask
        after_sep = (input_ids == self.config.text_token_index).long().cumsum(1) > 0
        return attention_mask * after_sep

    def _pool_text(self, hidden: torch.Tensor, text_mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        strategy = self.config.pooling_strategy
        pooled = pooling.pool_text(hidden, text_mask, strategy)
        if not self.config.extract_text_features or strategy == "first" or self.segment_encoder is not None:
            return pooled  # segment-isolated models pool the text segment alone (not reference-compatible anyway)
        # The reference pools the `<<SEP>>`-onward tokens inside a zero-filled buffer as long as the
        # whole input: an average over all real tokens, and a max that includes zero.
        if strategy == "avg":
            share = text_mask.sum(1) / attention_mask.sum(1)
            return pooled * share.unsqueeze(-1).to(pooled.dtype)
        return pooled.clamp(min=0)


def _init_heads(core: GLiClassUniEncoder) -> None:
    """Variance-preserving init of the heads, so a new model does not start at the all-zero saddle.

    With tiny weights both sides of the dot product vanish and so do their gradients; here the
    projectors keep the scale of the encoder states and the final projection is scaled so that
    a text·label dot product starts with a standard deviation near 1.
    """
    dim = core.config.encoder_config.hidden_size
    for head in (core.text_projector, core.classes_projector, core.scorer):
        for layer in head.modules():
            if isinstance(layer, nn.Linear):
                std = layer.in_features**-0.5
                if head is not core.scorer and layer is head.linear_2:
                    std *= dim**-0.25
                init.normal_(layer.weight, mean=0.0, std=std)
                init.zeros_(layer.bias)


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
        raise ValueError(f"start_as_embedder needs an activation with act(x) - act(-x) = x; {cfg.projector_hidden_act!r} is not.")
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
        for token_id in (cfg.class_token_index, cfg.text_token_index, cfg.example_token_index):
            embeddings[token_id] = embeddings[start_id]


class GLiClassModel(PreTrainedModel):
    """GLiClass uni-encoder classifier: scores any set of candidate labels in one forward pass.

    Load a trained model with `GLiClassModel.from_pretrained(path_or_id)` (its tokenizer comes
    along as `model.tokenizer`), or start a new one from any encoder with
    `GLiClassModel.from_backbone(name_or_path, **config_options)`.
    """

    config_class = GLiClassConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _keys_to_ignore_on_load_unexpected = [r"position_ids"]

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__(config)
        self.model = GLiClassUniEncoder(config)
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, GLiClassUniEncoder):
            _init_heads(module)
            init.constant_(module.logit_scale, float(self.config.logit_scale_init_value))
            if module.logit_bias is not None:
                init.constant_(module.logit_bias, float(self.config.logit_bias_init_value))

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
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> GLiClassOutput:
        """Score every `<<LABEL>>` of each row.

        `labels`, when given, is `(batch, labels)` with 1 for true labels (soft values allowed);
        the loss follows `config.problem_type`.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        output = self.model(input_ids, attention_mask)
        if labels is not None:
            output.loss = self.loss(output.logits, labels, output.label_mask)
        return output

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
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(name_or_path)
        tokenizer.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
        encoder = AutoModel.from_pretrained(name_or_path, dtype=torch.float32)  # fp32 master weights
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
        model.model.encoder_model.load_state_dict(encoder.state_dict())
        model.tokenizer = tokenizer
        if start_as_embedder:
            _start_as_embedder(model.model, tokenizer)
        return model

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *args: Any, **kwargs: Any) -> GLiClassModel:
        """Load a GLiClass checkpoint (ours or the reference package's) and its tokenizer.

        Only safetensors weights are read, in float32 unless `dtype=` says otherwise. A local
        folder is checked first: a missing config, missing or truncated weights give a clear
        error instead of a half-loaded model.
        """
        if Path(name_or_path).is_dir():
            check_checkpoint_folder(Path(name_or_path))
        kwargs["use_safetensors"] = True
        kwargs.setdefault("dtype", torch.float32)  # fp16 checkpoints are upcast; pass dtype= to keep them
        model = super().from_pretrained(name_or_path, *args, **kwargs)
        try:
            model.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        except (OSError, ValueError):
            model.tokenizer = None
        return model

    def save_pretrained(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> None:
        """Save config, safetensors weights and, when the model has one, its tokenizer."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory)

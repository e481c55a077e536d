"""The GLiClass bi-encoders: the text and the labels go through separate encoders.

`bi-encoder`: the text encoder reads `{prompt} {text}`, a second (label) encoder reads each label
on its own; both are pooled and projected, and the scorer compares them. Label vectors depend
on the label alone, so they can be computed once and reused for any text.

`bi-encoder-fused`: the label vectors (as above) replace the input embeddings of the `<<LABEL>>`
tokens of the text input `{prompt} <<LABEL>><<LABEL>>...<<SEP>>{text}`; the text encoder's
outputs at those positions are the label vectors the scorer reads.

Parameter names match the reference checkpoints (`encoder_model`, `label_encoder`,
`biencoder_projector`, `text_projector`, `classes_projector`, `scorer`, `logit_scale`).

Padding: text vectors are pooled over real tokens only. The reference pools each label row
over all its positions, padding included (with `avg`, `max` or `last` pooling a label's vector
then depends on the longest label it was padded to); `forward` does the same, and
`label_features` takes the positions to pool explicitly (`class_pooling_mask`, default: the
real tokens), so the pipeline can reproduce the reference's padding without depending on how
labels are batched.
"""

from __future__ import annotations

import torch

from . import pooling
from .config import GLiClassConfig
from .heads import BiEncoderProjector, GLiClassCore, new_encoder


class GLiClassBiEncoder(GLiClassCore):
    """Text encoder, label encoder and heads of the `bi-encoder` and `bi-encoder-fused` architectures."""

    padded_label_logit = -1e3  # the reference's value for the padded labels of a bi-encoder row
    scales_logits_always = True  # the reference scales by `logit_scale` whatever `normalize_features` says

    def __init__(self, config: GLiClassConfig) -> None:
        super().__init__(config, new_encoder(config.encoder_config))
        self.label_encoder = new_encoder(config.label_model_config)
        self.biencoder_projector = BiEncoderProjector(config)

    @property
    def fused(self) -> bool:
        return self.config.architecture_type == "bi-encoder-fused"

    def label_features(
        self,
        class_input_ids: torch.Tensor,
        class_attention_mask: torch.Tensor,
        class_pooling_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Projected vectors `(labels, dim)` of label token rows `(labels, seq)` (one label per row).

        The label encoder attends to `class_attention_mask`; the vector is pooled over
        `class_pooling_mask` (default: the same real tokens).
        """
        states = self.label_encoder(input_ids=class_input_ids, attention_mask=class_attention_mask).last_hidden_state
        pooled = self._pool(states, class_attention_mask if class_pooling_mask is None else class_pooling_mask)
        return self.project_labels(self.biencoder_projector(pooled))

    def text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Projected text vectors `(batch, dim)` (`bi-encoder` only: a fused text needs its labels)."""
        if self.fused:
            raise ValueError("a bi-encoder-fused model encodes the text with its labels; use fused_features().")
        states = self.encoder_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.project_text(self._pool(states, attention_mask))

    def fused_features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_vectors: torch.Tensor,
        labels_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Text vectors `(batch, dim)` and label vectors `(batch, labels, dim)` of `bi-encoder-fused` rows.

        `label_vectors` `(batch, labels, dim)` (from `label_features`) fill the `<<LABEL>>` tokens
        of each row in order; row `b` must hold exactly `labels_mask[b].sum()` of them.
        """
        is_label = input_ids == self.config.class_token_index
        labels_mask = labels_mask.bool()
        if not torch.equal(is_label.sum(1), labels_mask.sum(1)):
            raise ValueError("every row needs one <<LABEL>> token per label in labels_mask.")
        embeddings = self.encoder_model.get_input_embeddings()(input_ids)
        embeddings = embeddings.masked_scatter(is_label.unsqueeze(-1), label_vectors[labels_mask].to(embeddings.dtype))
        states = self.encoder_model(inputs_embeds=embeddings, attention_mask=attention_mask).last_hidden_state
        labels = torch.zeros_like(label_vectors, dtype=states.dtype)
        labels[labels_mask] = states[is_label]
        return self.project_text(self._pool(states, attention_mask)), labels

    @property
    def encodes_labels_apart(self) -> bool:
        """True for `bi-encoder`: text vectors never see the labels (the fused text does)."""
        return not self.fused

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        class_input_ids: torch.Tensor,
        class_attention_mask: torch.Tensor,
        labels_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(logits, labels_mask, text vectors, label vectors)` for texts and their label token rows.

        `class_input_ids`/`class_attention_mask` are `(batch, labels, seq)`; `labels_mask`
        `(batch, labels)` marks real labels (all of them when omitted). As in the reference,
        label rows are pooled over all `seq` positions.
        """
        batch, num_labels, _ = class_input_ids.shape
        if labels_mask is None:
            labels_mask = torch.ones(batch, num_labels, dtype=torch.bool, device=class_input_ids.device)
        labels_mask = labels_mask.bool()
        label_ids, label_attention = class_input_ids[labels_mask], class_attention_mask[labels_mask]
        real = self.label_features(label_ids, label_attention, torch.ones_like(label_attention))
        label_vectors = real.new_zeros(batch, num_labels, real.shape[-1])
        label_vectors[labels_mask] = real
        if self.fused:
            text, label_vectors = self.fused_features(input_ids, attention_mask, label_vectors, labels_mask)
        else:
            text = self.text_features(input_ids, attention_mask)
        return self.score(text, label_vectors, labels_mask), labels_mask, text, label_vectors

    def _pool(self, states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return pooling.pool_text(states, attention_mask, self.config.pooling_strategy)

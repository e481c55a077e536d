"""Baselines trained by the same trainer on the same data and backbone, for fair comparisons.

- `CrossEncoderBaseline`: NLI-style; the backbone reads one (text, "This example is {label}.")
  pair at a time and one logit says whether the label applies. Saved as a plain
  `AutoModelForSequenceClassification` whose single label is `entailment`.
- `BiEncoderBaseline`: text and labels embedded separately (mean pooling), scored by scaled
  cosine similarity. Saved as a plain `AutoModel` folder (an embedding model).

Both take the trainer's items `(text, candidate_labels, targets)` through their own collator
and expose `score(texts, labels)` for evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, BatchEncoding

from gliclass.checkpoint import is_gliclass_checkpoint
from gliclass.padding import length_sorted_batches, pad_id_of, pad_rows
from gliclass.pooling import pool_text

from .batches import Item

DEFAULT_TEMPLATE = "This example is {}."
ENTAILMENT_HEAD = ("entailment",)


class CrossEncoderBaseline(nn.Module):
    """Backbone + a classification head read on each (text, hypothesis) pair.

    `head_labels`: the labels of a new, random head (one `entailment` logit for training);
    None keeps the checkpoint's own head (an NLI model: entailment vs contradiction).
    """

    def __init__(
        self,
        backbone: str,
        template: str = DEFAULT_TEMPLATE,
        max_length: int = 256,
        head_labels: tuple[str, ...] | None = ENTAILMENT_HEAD,
    ) -> None:
        super().__init__()
        if "{}" not in template:
            raise ValueError(f"the hypothesis template needs a '{{}}' for the label, got {template!r}.")
        check_plain_model(backbone, "cross-encoder")
        head: dict[str, Any] = {}
        if head_labels is not None:
            id2label = dict(enumerate(head_labels))
            head = {
                "num_labels": len(head_labels),
                "id2label": id2label,
                "label2id": {v: k for k, v in id2label.items()},
            }
        self.model = AutoModelForSequenceClassification.from_pretrained(backbone, dtype=torch.float32, **head)
        self.tokenizer = AutoTokenizer.from_pretrained(backbone)
        self.template = template
        self.max_length = max_length
        self.backbone_parameter_prefix = f"model.{self.model.base_model_prefix}."
        self.entailment, self.contradiction = nli_columns(
            self.model.config.id2label, self.model.config.num_labels, backbone
        )

    def collate(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        texts, hypotheses, targets = [], [], []
        for text, labels, label_targets in items:
            for label, target in zip(labels, label_targets):
                texts.append(text)
                hypotheses.append(self.template.format(label))
                targets.append(target)
        batch = self._encode(texts, hypotheses)
        batch["labels"] = torch.tensor(targets, dtype=torch.float)
        return batch

    def forward(self, labels: torch.Tensor | None = None, **inputs: torch.Tensor) -> SimpleNamespace:
        logits = self.model(**inputs).logits.squeeze(-1)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels) if labels is not None else None
        return SimpleNamespace(loss=loss, logits=logits)

    @torch.inference_mode()
    def score(self, texts: Sequence[str], labels: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Entailment probabilities `(texts, labels)`, one pass per pair: the sigmoid of a single
        logit, else the softmax over entailment vs contradiction."""
        hypotheses = [self.template.format(label) for label in labels]
        premises = [text for text in texts for _ in labels]
        encoded = self.tokenizer(premises, hypotheses * len(texts), truncation="only_first", max_length=self.max_length)
        logits = batched_forward(
            lambda **batch: self.model(**batch).logits,
            encoded,
            pad_id_of(self.tokenizer),
            batch_size,
            next(self.parameters()).device,
        )
        if self.entailment is None:
            probabilities = torch.sigmoid(logits[:, 0])
        else:
            probabilities = torch.softmax(logits[:, [self.contradiction, self.entailment]], dim=-1)[:, 1]
        return probabilities.view(len(texts), len(labels))

    def save_pretrained(self, folder: str | Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _encode(self, texts: list[str], hypotheses: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                texts,
                hypotheses,
                truncation="only_first",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
        )


class BiEncoderBaseline(nn.Module):
    """Shared encoder; score = scale * cosine(mean-pooled text, mean-pooled label) + bias."""

    backbone_parameter_prefix = "encoder."

    def __init__(self, backbone: str, max_length: int = 256) -> None:
        super().__init__()
        check_plain_model(backbone, "bi-encoder")
        self.encoder = AutoModel.from_pretrained(backbone, dtype=torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(backbone)
        self.max_length = max_length
        self.log_scale = nn.Parameter(torch.tensor(math.log(20.0)))
        self.bias = nn.Parameter(torch.tensor(-5.0))

    def collate(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        """Texts, the batch's distinct labels, and targets masked to each text's own candidates."""
        distinct = list(dict.fromkeys(label for _, labels, _ in items for label in labels))
        column = {label: index for index, label in enumerate(distinct)}
        targets = torch.zeros(len(items), len(distinct))
        mask = torch.zeros(len(items), len(distinct), dtype=torch.bool)
        for row, (_, labels, label_targets) in enumerate(items):
            for label, target in zip(labels, label_targets):
                targets[row, column[label]] = target
                mask[row, column[label]] = True
        texts = self._encode([item[0] for item in items])
        label_inputs = self._encode(distinct)
        return {
            "input_ids": texts["input_ids"],
            "attention_mask": texts["attention_mask"],
            "label_input_ids": label_inputs["input_ids"],
            "label_attention_mask": label_inputs["attention_mask"],
            "labels": targets,
            "label_mask": mask,
        }

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """L2-normalised mean-pooled token states (real tokens only), one row per input."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(pool_text(hidden, attention_mask, "avg"), dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        label_input_ids: torch.Tensor,
        label_attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        label_mask: torch.Tensor | None = None,
    ) -> SimpleNamespace:
        similarity = self.embed(input_ids, attention_mask) @ self.embed(label_input_ids, label_attention_mask).T
        logits = similarity * self.log_scale.exp() + self.bias
        loss = None
        if labels is not None:
            mask = label_mask.float() if label_mask is not None else torch.ones_like(labels)
            losses = F.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
            loss = (losses * mask).sum() / mask.sum().clamp(min=1)
        return SimpleNamespace(loss=loss, logits=logits)

    @torch.inference_mode()
    def score(self, texts: Sequence[str], labels: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Sigmoid scores `(texts, labels)`; label vectors computed once."""
        similarity = self.embed_all(texts, batch_size) @ self.embed_all(labels, batch_size).T
        return torch.sigmoid(similarity * self.log_scale.exp().cpu() + self.bias.cpu())

    @torch.inference_mode()
    def embed_all(self, strings: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """`embed` of every string, in batches of similar length, one row per string in input order."""
        encoded = self.tokenizer(
            list(strings), truncation=True, max_length=self.max_length, return_token_type_ids=False
        )
        return batched_forward(
            self.embed, encoded, pad_id_of(self.tokenizer), batch_size, next(self.parameters()).device
        )

    def save_pretrained(self, folder: str | Path) -> None:
        self.encoder.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _encode(self, strings: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(strings, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        )


def batched_forward(
    forward: Callable[..., torch.Tensor],
    encoded: BatchEncoding,
    pad_id: int,
    batch_size: int,
    device: torch.device | str,
) -> torch.Tensor:
    """`forward(**batch)` on every encoded row, in padded batches of similar length; rows back in input order."""
    ids = encoded["input_ids"]
    order: list[int] = []
    pieces: list[torch.Tensor] = []
    for chunk in length_sorted_batches(ids, batch_size):
        batch = pad_rows([ids[index] for index in chunk], pad_id)
        if "token_type_ids" in encoded:  # BERT-style sentence pairs
            batch["token_type_ids"] = pad_rows([encoded["token_type_ids"][index] for index in chunk], 0)["input_ids"]
        pieces.append(forward(**{key: value.to(device) for key, value in batch.items()}).float().cpu())
        order.extend(chunk)
    result = torch.empty(len(ids), *pieces[0].shape[1:])
    result[torch.tensor(order)] = torch.cat(pieces)
    return result


def check_plain_model(backbone: str, kind: str) -> None:
    """Refuse a GLiClass checkpoint as a baseline's model (transformers would load it as a GLiClass
    model, which has no plain encoder output or classification head)."""
    if is_gliclass_checkpoint(backbone):
        raise ValueError(
            f"{backbone} is a GLiClass checkpoint; the {kind} baseline takes a plain transformers model "
            "(an encoder, or an NLI model for a cross-encoder)."
        )


def nli_columns(id2label: dict, num_labels: int, where: str) -> tuple[int | None, int | None]:
    """(entailment, contradiction) logit columns; (None, None) for a single-logit model."""
    if num_labels == 1:
        return None, None
    names = {int(index): str(label).lower().replace("_", " ") for index, label in id2label.items()}
    entailment = next((i for i, name in names.items() if name.startswith("entail")), None)
    contradiction = next(
        (i for i, name in names.items() if name.startswith(("contradict", "not entail", "non entail"))), None
    )
    if entailment is not None and contradiction is None and num_labels == 2:
        contradiction = 1 - entailment
    if entailment is None or contradiction is None:
        raise ValueError(
            f"cross-encoder {where}: id2label {id2label} needs an entailment and a contradiction (or not_entailment) "
            "label, or the model must have a single output logit."
        )
    return entailment, contradiction

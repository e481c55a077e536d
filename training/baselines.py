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
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from .batches import Item

DEFAULT_TEMPLATE = "This example is {}."


class CrossEncoderBaseline(nn.Module):
    """Backbone + one logit per (text, label) pair."""

    def __init__(self, backbone: str, template: str = DEFAULT_TEMPLATE, max_length: int = 256) -> None:
        super().__init__()
        self.model = AutoModelForSequenceClassification.from_pretrained(
            backbone, num_labels=1, id2label={0: "entailment"}, label2id={"entailment": 0}, dtype=torch.float32
        )
        self.tokenizer = AutoTokenizer.from_pretrained(backbone)
        self.template = template
        self.max_length = max_length
        self.backbone_parameter_prefix = f"model.{self.model.base_model_prefix}."

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
        """Sigmoid scores `(texts, labels)`: one pass per pair."""
        device = next(self.parameters()).device
        pairs = [(text, self.template.format(label)) for text in texts for label in labels]
        logits = []
        for begin in range(0, len(pairs), batch_size):
            chunk = pairs[begin : begin + batch_size]
            batch = self._encode([p[0] for p in chunk], [p[1] for p in chunk])
            logits.append(self.model(**{k: v.to(device) for k, v in batch.items()}).logits.squeeze(-1).float().cpu())
        return torch.sigmoid(torch.cat(logits)).view(len(texts), len(labels))

    def save_pretrained(self, folder: str | Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _encode(self, texts: list[str], hypotheses: list[str]) -> dict[str, torch.Tensor]:
        return dict(
            self.tokenizer(
                texts, hypotheses, truncation="only_first", max_length=self.max_length, padding=True, return_tensors="pt"
            )
        )


class BiEncoderBaseline(nn.Module):
    """Shared encoder; score = scale * cosine(mean-pooled text, mean-pooled label) + bias."""

    backbone_parameter_prefix = "encoder."

    def __init__(self, backbone: str, max_length: int = 256) -> None:
        super().__init__()
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
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * weights).sum(1) / weights.sum(1).clamp(min=1), dim=-1)

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
        device = next(self.parameters()).device
        label_vectors = self._embed_all(list(labels), batch_size, device)
        text_vectors = self._embed_all(list(texts), batch_size, device)
        return torch.sigmoid(text_vectors @ label_vectors.T * self.log_scale.exp().cpu() + self.bias.cpu())

    def save_pretrained(self, folder: str | Path) -> None:
        self.encoder.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)

    def _embed_all(self, strings: list[str], batch_size: int, device: torch.device) -> torch.Tensor:
        vectors = []
        for begin in range(0, len(strings), batch_size):
            batch = self._encode(strings[begin : begin + batch_size])
            vectors.append(self.embed(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu())
        return torch.cat(vectors)

    def _encode(self, strings: list[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(strings, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"))

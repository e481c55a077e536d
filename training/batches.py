"""From labelled sets to padded model batches: the epoch plan, candidate sampling and collation."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from gliclass.data import LabelledSet
from gliclass.labels_apart import LabelsApartBatch, LabelsApartInputs
from gliclass.padding import pad_rows
from gliclass.prompt import PromptEncoder

from .data import CandidateSampler

Item = tuple[str, list[str], list[float]]


class ZeroShotTrainingSet(Dataset):
    """Every set's examples (each `weight` times per epoch), shuffled per epoch, with sampled candidates.

    Everything random is derived from `(seed, epoch, position)`, so an epoch replays identically:
    resuming a run at a given position sees the same items as the uninterrupted run.
    """

    def __init__(self, sets: Sequence[LabelledSet], sampler: CandidateSampler, seed: int = 0) -> None:
        if not sets:
            raise ValueError("no training sets given.")
        self.sets = list(sets)
        self.sampler = sampler
        self.seed = seed
        self.plan: list[tuple[int, int]] = []
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        rng = random.Random(f"{self.seed}-plan-{epoch}")
        plan = []
        for set_index, labelled in enumerate(self.sets):
            remaining = round(len(labelled.examples) * labelled.weight)
            order = list(range(len(labelled.examples)))
            while remaining > 0:  # a weight above 1 cycles through the set again
                rng.shuffle(order)
                taken = order[:remaining]
                plan.extend((set_index, example) for example in taken)
                remaining -= len(taken)
        rng.shuffle(plan)
        self.epoch = epoch
        self.plan = plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, position: int) -> Item:
        set_index, example_index = self.plan[position]
        labelled = self.sets[set_index]
        example = labelled.examples[example_index]
        rng = random.Random(f"{self.seed}-item-{self.epoch}-{position}")
        others = self._other_labels(set_index)
        labels, targets = self.sampler.sample(example, labelled.labels, others, rng)
        return example.text, labels, targets

    def _other_labels(self, set_index: int) -> list[str]:
        if not hasattr(self, "_others"):
            self._others = {
                index: [label for other, s in enumerate(self.sets) if other != index for label in s.labels]
                for index in range(len(self.sets))
            }
        return self._others[set_index]


class FixedCandidatesSet(Dataset):
    """Examples shown with one fixed candidate list (few-shot fine-tuning, evaluation); with
    `shuffle_seed`, the examples' order and each one's label order change every epoch."""

    def __init__(
        self,
        texts: Sequence[str],
        targets: Sequence[Sequence[str]],
        labels: Sequence[str],
        shuffle_seed: int | None = None,
    ) -> None:
        self.texts = list(texts)
        self.targets = [set(t) for t in targets]
        self.labels = list(labels)
        self.shuffle_seed = shuffle_seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = list(range(len(self.texts)))
        if self.shuffle_seed is not None:
            random.Random(f"{self.shuffle_seed}-order-{epoch}").shuffle(self.order)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, position: int) -> Item:
        labels, index = list(self.labels), self.order[position]
        if self.shuffle_seed is not None:  # label order varies in training so position is not learned
            random.Random(f"{self.shuffle_seed}-{self.epoch}-{index}").shuffle(labels)
        return self.texts[index], labels, [1.0 if label in self.targets[index] else 0.0 for label in labels]


class Collator:
    """Tokenises items into `input_ids`, `attention_mask` and `(rows, labels)` targets."""

    def __init__(self, encoder: PromptEncoder, pad_token_id: int) -> None:
        self.encoder = encoder
        self.pad_token_id = pad_token_id

    def __call__(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        texts = [item[0] for item in items]
        rows = self.encoder.encode(texts, [item[1] for item in items], [""] * len(items), [""] * len(items))
        batch = pad_rows([row.input_ids for row in rows], self.pad_token_id)
        targets = torch.zeros((len(rows), max(row.label_end - row.label_start for row in rows)))
        for slot, row in enumerate(rows):
            row_targets = items[row.text_index][2][row.label_start : row.label_end]
            targets[slot, : len(row_targets)] = torch.tensor(row_targets)
        return {**batch, "labels": targets}


class LabelsApartCollator:
    """Items into text rows plus each distinct candidate label of the batch once (models that encode labels apart).

    Gives `input_ids`/`attention_mask` of the text rows, `label_input_ids`/`label_attention_mask`/
    `label_pooling_mask` of the distinct labels (`GLiClassModel.get_label_features` inputs),
    `label_index` `(rows, labels)` pointing each row's candidates into them, `label_mask` and the
    `labels` targets; `training.trainer.batch_loss` scores them as inference does.
    """

    def __init__(self, builder: LabelsApartInputs, pad_token_id: int, label_pad_token_id: int) -> None:
        self.builder = builder
        self.pad_token_id = pad_token_id
        self.label_pad_token_id = label_pad_token_id

    def __call__(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        batch = self.rows(items)
        text = pad_rows([row.input_ids for row in batch.rows], self.pad_token_id)
        label_rows = batch.label_inputs(range(len(batch.labels)), self.label_pad_token_id)
        width = max(len(indices) for indices in batch.row_labels)
        label_index = torch.zeros((len(batch.rows), width), dtype=torch.long)
        label_mask = torch.zeros((len(batch.rows), width), dtype=torch.bool)
        for slot, indices in enumerate(batch.row_labels):
            label_index[slot, : len(indices)] = torch.tensor(indices)
            label_mask[slot, : len(indices)] = True
        return {
            **text,
            "label_input_ids": label_rows["input_ids"],
            "label_attention_mask": label_rows["attention_mask"],
            "label_pooling_mask": label_rows["pooling_mask"],
            "label_index": label_index,
            "label_mask": label_mask,
            "labels": self.targets(items, batch, width),
        }

    def rows(self, items: Sequence[Item]) -> LabelsApartBatch:
        """The text rows of `items` and their distinct labels."""
        blank = [""] * len(items)
        return self.builder.build([item[0] for item in items], [item[1] for item in items], blank, blank)

    @staticmethod
    def targets(items: Sequence[Item], batch: LabelsApartBatch, width: int) -> torch.Tensor:
        """`(rows, width)` targets of each row's candidates, zero-padded."""
        targets = torch.zeros((len(batch.rows), width))
        for slot, row in enumerate(batch.rows):
            row_targets = items[row.text_index][2][row.label_start : row.label_end]
            targets[slot, : len(row_targets)] = torch.tensor(row_targets)
        return targets


class FusedRowsCollator(LabelsApartCollator):
    """Items into `GLiClassModel.forward` inputs of a `bi-encoder-fused` model: text rows with one
    `<<LABEL>>` per candidate, each row's label token rows (`class_input_ids`, `class_attention_mask`,
    `labels_mask`) and the `labels` targets; the fused text needs its labels, so they cannot be
    encoded once per batch."""

    def __call__(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        batch = self.rows(items)
        inputs = batch.model_inputs(self.pad_token_id, self.label_pad_token_id)
        return {**inputs, "labels": self.targets(items, batch, inputs["labels_mask"].shape[1])}

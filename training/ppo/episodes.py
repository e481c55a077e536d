"""PPO episodes: a text, its candidate labels, their targets and which of them are judged.

From full labels every candidate is judged (target 1 for a true label, 0 otherwise); from
feedback only the labels a person accepted (1) or rejected (0) are.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from gliclass.data import Example
from gliclass.padding import pad_rows
from gliclass.prompt import PromptEncoder, check_labels, check_text

from ..feedback.data import FeedbackRecord


@dataclass(frozen=True)
class Episode:
    """One text with its candidates; `targets[i]` counts only where `judged[i]`."""

    text: str
    candidates: tuple[str, ...]
    targets: tuple[float, ...]
    judged: tuple[bool, ...]


def episodes_from_examples(examples: Sequence[Example | dict[str, Any]], labels: Sequence[str]) -> list[Episode]:
    """Fully labelled examples (`Example`s or `{"text", "labels": [...]}` dicts), shown with `labels`."""
    candidates = tuple(check_labels(list(labels)))
    known = set(candidates)
    episodes = []
    for number, example in enumerate(examples):
        if isinstance(example, Example):
            text, true = example.text, set(example.true_labels)
        elif isinstance(example, dict) and "text" in example and isinstance(example.get("labels"), (list, tuple)):
            text, true = example["text"], set(example["labels"])
        else:
            raise TypeError(f"example {number} must be an Example or a dict with 'text' and a 'labels' list.")
        check_text(text, f"example {number} text")
        if true - known:
            unknown = sorted(true - known)
            raise ValueError(f"example {number} has labels {unknown} that are not among the candidate labels.")
        targets = tuple(1.0 if label in true else 0.0 for label in candidates)
        episodes.append(Episode(text, candidates, targets, (True,) * len(candidates)))
    if not episodes:
        raise ValueError("no examples given.")
    return episodes


def episodes_from_feedback(records: Sequence[FeedbackRecord]) -> list[Episode]:
    """Feedback records; records with no accepted or rejected label carry no signal and are left out."""
    episodes = []
    for record in records:
        judged = set(record.accepted) | set(record.rejected)
        if not judged:
            continue
        candidates = tuple(record.candidate_labels)
        targets = tuple(1.0 if label in record.accepted else 0.0 for label in candidates)
        episodes.append(Episode(record.text, candidates, targets, tuple(label in judged for label in candidates)))
    if not episodes:
        raise ValueError("the feedback has no accepted or rejected label to learn from.")
    return episodes


class EpisodeSet(Dataset):
    """Episodes in a seeded order per epoch, each with its candidates shuffled (replayable on resume)."""

    def __init__(self, episodes: Sequence[Episode], seed: int = 0) -> None:
        if not episodes:
            raise ValueError("no episodes given.")
        self.episodes = list(episodes)
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = list(range(len(self.episodes)))
        random.Random(f"{self.seed}-order-{epoch}").shuffle(self.order)

    def __len__(self) -> int:
        return len(self.episodes)

    def __getitem__(self, position: int) -> Episode:
        episode = self.episodes[self.order[position]]
        permutation = list(range(len(episode.candidates)))
        random.Random(f"{self.seed}-labels-{self.epoch}-{position}").shuffle(permutation)
        return Episode(
            episode.text,
            tuple(episode.candidates[i] for i in permutation),
            tuple(episode.targets[i] for i in permutation),
            tuple(episode.judged[i] for i in permutation),
        )


class EpisodeCollator:
    """Encoder rows of episodes: `input_ids`, `attention_mask`, `targets`, `judged`, and per row
    its `texts` and `labels` (a text whose candidates are split into groups gives one row each)."""

    def __init__(self, encoder: PromptEncoder, pad_token_id: int) -> None:
        self.encoder = encoder
        self.pad_token_id = pad_token_id

    def __call__(self, episodes: Sequence[Episode]) -> dict[str, Any]:
        count, candidates = len(episodes), [list(e.candidates) for e in episodes]
        rows = self.encoder.encode([e.text for e in episodes], candidates, [""] * count, [""] * count)
        batch = pad_rows([row.input_ids for row in rows], self.pad_token_id)
        most_labels = max(row.label_end - row.label_start for row in rows)
        targets = torch.zeros((len(rows), most_labels))
        judged = torch.zeros((len(rows), most_labels), dtype=torch.bool)
        texts, labels = [], []
        for slot, row in enumerate(rows):
            episode = episodes[row.text_index]
            span = slice(row.label_start, row.label_end)
            size = row.label_end - row.label_start
            targets[slot, :size] = torch.tensor(episode.targets[span])
            judged[slot, :size] = torch.tensor(episode.judged[span])
            texts.append(episode.text)
            labels.append(list(episode.candidates[span]))
        return {**batch, "targets": targets, "judged": judged, "texts": texts, "labels": labels}

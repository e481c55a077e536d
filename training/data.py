"""Sampling candidate labels for zero-shot training (the data itself: `gliclass.data`)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from gliclass.data import Example


@dataclass
class CandidateSampler:
    """Candidate labels for zero-shot training: true labels plus sampled negatives, shuffled.

    The number of labels per example varies in `[min_labels, max_labels]`; negatives come from the
    example's own dataset with probability `own_negative_share`, else from other datasets.
    With probability `drop_positives`, the true labels are left out (an example with no true
    label among its candidates is a valid, useful example for multi-label scoring).
    """

    max_labels: int = 20
    min_labels: int = 2
    own_negative_share: float = 0.7
    drop_positives: float = 0.05

    def sample(
        self, example: Example, own: Sequence[str], others: Sequence[str], rng: random.Random
    ) -> tuple[list[str], list[float]]:
        """`(candidate labels, their targets)` for one example; `own`/`others`: label pools for negatives."""
        if example.candidates is not None:
            labels = list(example.candidates)
            rng.shuffle(labels)
            return labels, [example.targets.get(label, 0.0) for label in labels]
        positives = list(example.targets)
        if len(positives) > self.max_labels - 1:
            positives = rng.sample(positives, self.max_labels - 1)
        if positives and rng.random() < self.drop_positives:
            excluded, positives = set(positives), []
        else:
            excluded = set(example.targets)
        total = rng.randint(max(self.min_labels, len(positives) + 1), self.max_labels)
        chosen = set(positives)
        negatives: list[str] = []
        attempts = 0
        while len(positives) + len(negatives) < total and attempts < total * 10:
            attempts += 1
            pool = own if (rng.random() < self.own_negative_share or not others) else others
            if not pool:
                break
            label = pool[rng.randrange(len(pool))]
            if label not in chosen and label not in excluded:
                chosen.add(label)
                negatives.append(label)
        labels = positives + negatives
        rng.shuffle(labels)
        return labels, [example.targets.get(label, 0.0) for label in labels]

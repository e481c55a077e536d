"""Few-shot examples as label evidence, for models that encode labels apart from the text.

A joint model reads examples inside its input (the reference's `<<EXAMPLE>>` format). A model
whose labels never see the text would only get them appended to every scored text, which mixes
another text's content into the one being classified. Here each example's text is encoded like a
scored text, and each label named by examples moves along what sets its examples apart from all
the examples of the call:

    label' = normalise(label + weight * n / (n + 1) * (mean(its examples) - mean(all examples)))

for `n` examples of that label (without normalising when the model does not score cosines). The
difference cancels what all examples share (they are all reviews, or all questions), so only the
contrast between labels moves scores; with examples of a single label there is no contrast and
nothing moves. Labels without examples keep their vectors; examples with `"labels": []` count in
the mean of all examples only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .labels_apart import LabelInput
from .prompt import EncodedRow, PromptEncoder, check_examples, label_with_description

EXAMPLE_WEIGHT = 0.5  # chosen on held-out splits of train/ (benchmarks/examples.py --choose), never on eval/


@dataclass(frozen=True)
class ExampleEvidence:
    """Encoder rows of the example texts, and which examples support each shown label."""

    rows: list[EncodedRow]
    examples_of: dict[str, list[int]]
    weight: float = EXAMPLE_WEIGHT

    @classmethod
    def build(
        cls,
        examples: Sequence[dict[str, Any]],
        text_rows: PromptEncoder,
        labels: Sequence[tuple[list[str], dict[str, str]]],
        weight: float = EXAMPLE_WEIGHT,
    ) -> ExampleEvidence:
        """Rows for the examples (cut to fit, no prompt) and, per label as shown to the model
        (with its description, for each label set of the call), its examples' indices."""
        checked = check_examples(examples)
        texts = [text for text, _ in checked]
        rows = text_rows.encode(texts, [[] for _ in texts], [""] * len(texts), [""] * len(texts))
        examples_of: dict[str, list[int]] = {}
        for names, descriptions in labels:
            for name in names:
                shown = label_with_description(name, descriptions)
                examples_of[shown] = [index for index, (_, named) in enumerate(checked) if name in named]
        return cls(rows, {shown: indices for shown, indices in examples_of.items() if indices}, weight)

    def apply(
        self,
        label_vectors: list[torch.Tensor],
        entries: Sequence[LabelInput],
        example_vectors: torch.Tensor,
        normalize: bool,
    ) -> list[torch.Tensor]:
        """`label_vectors` (of `entries`) moved towards their examples' vectors `(examples, dim)`."""
        every_example = example_vectors.float().mean(0)
        moved = []
        for vector, entry in zip(label_vectors, entries):
            indices = self.examples_of.get(entry.text)
            if not indices or len(indices) == len(example_vectors):  # no examples, or no contrast
                moved.append(vector)
                continue
            contrast = example_vectors[indices].float().mean(0) - every_example
            mixed = vector.float() + self.weight * len(indices) / (len(indices) + 1) * contrast
            if normalize:
                mixed = mixed / (mixed.norm() + 1e-8)
            moved.append(mixed.to(vector.dtype))
        return moved

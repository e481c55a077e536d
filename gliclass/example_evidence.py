"""Few-shot examples as label evidence, for models that encode labels apart from the text.

A joint model reads examples inside its input (the reference's `<<EXAMPLE>>` format). A model
whose labels never see the text would only get them appended to every scored text, which mixes
another text's content into the one being classified. Here each example's text is encoded like a
scored text, and each label named by examples moves along what sets its examples apart from all
the examples of the call:

    label' = label + weight * n / (n + EXAMPLE_PRIOR) * (mean(its examples) - mean(all examples))

An example naming several labels is a share `1 / its label count` of an example for each of
them: `n` is the sum of a label's shares and its mean is weighted by them. The pseudo-count prior
makes one example move a label less than eight do. The difference cancels what all examples
share (they are all reviews, or all questions), so only the contrast between labels moves scores;
with examples of a single label there is no contrast and nothing moves. The move is centred: each
label's logits lose what the move changed at the mean of the examples, so a text like the average
example keeps its scores and the examples do not shift a label's overall level (its prior), only
which texts it prefers. Labels without examples keep their vectors; examples with `"labels": []`
count in the mean of all examples only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .labels_apart import LabelInput
from .prompt import EncodedRow, PromptEncoder, check_examples

# Both chosen on split B of six train/ sets (benchmarks/examples.py --choose), never on eval/.
EXAMPLE_WEIGHT = 0.4
EXAMPLE_PRIOR = 8.0

Scorer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (text, labels, mask) -> logits


@dataclass(frozen=True)
class ExampleEvidence:
    """Encoder rows of the example texts, which examples support each shown label, and each
    example's share (1 / its label count)."""

    rows: list[EncodedRow]
    examples_of: dict[str, list[int]]
    shares: list[float]
    weight: float = EXAMPLE_WEIGHT

    @classmethod
    def build(
        cls,
        examples: Sequence[dict[str, Any]],
        text_rows: PromptEncoder,
        names: Sequence[Sequence[str]],
        shown: Sequence[Sequence[str]],
        weight: float = EXAMPLE_WEIGHT,
    ) -> ExampleEvidence:
        """Rows for the examples (cut to fit, no prompt) and, per label as shown to the model
        (`shown`: with its description or filled into a template, for each label set `names` of
        the call), its examples' indices."""
        checked = check_examples(examples)
        texts = [text for text, _ in checked]
        rows = text_rows.encode(texts, [[] for _ in texts], [""] * len(texts), [""] * len(texts))
        examples_of: dict[str, list[int]] = {}
        seen: set[int] = set()
        for set_names, set_shown in zip(names, shown):
            if id(set_shown) in seen:  # texts that share a label set share its shown list
                continue
            seen.add(id(set_shown))
            for name, shown_label in zip(set_names, set_shown):
                examples_of[shown_label] = [index for index, (_, named) in enumerate(checked) if name in named]
        shares = [1 / len(named) if named else 0.0 for _, named in checked]
        return cls(rows, {shown: indices for shown, indices in examples_of.items() if indices}, shares, weight)

    def moved(
        self, label_vectors: Sequence[torch.Tensor], entries: Sequence[LabelInput], example_vectors: torch.Tensor
    ) -> list[torch.Tensor]:
        """`label_vectors` (of `entries`) moved along their examples' contrast; `example_vectors`
        `(examples, dim)` are the examples' text vectors."""
        every_example = example_vectors.float().mean(0)
        moved = []
        for vector, entry in zip(label_vectors, entries):
            indices = self.examples_of.get(entry.text)
            if not indices or len(indices) == len(example_vectors):  # no examples, or no contrast
                moved.append(vector)
                continue
            shares = torch.tensor([self.shares[index] for index in indices]).unsqueeze(1)
            count = float(shares.sum())
            contrast = (shares * example_vectors[indices].float()).sum(0) / count - every_example
            shrink = count / (count + EXAMPLE_PRIOR)
            moved.append((vector.float() + self.weight * shrink * contrast).to(vector.dtype))
        return moved

    @staticmethod
    def centred_logits(
        score: Scorer,
        text: torch.Tensor,
        labels: torch.Tensor,
        moved_labels: torch.Tensor,
        mask: torch.Tensor,
        example_vectors: torch.Tensor,
    ) -> torch.Tensor:
        """Logits `(batch, labels)` of text vectors `(batch, dim)` against moved label vectors
        `(batch, labels, dim)`, less what the move changed for the examples' mean vector."""
        centre = example_vectors.mean(0).to(text.dtype).expand_as(text)
        return score(text, moved_labels, mask) - (score(centre, moved_labels, mask) - score(centre, labels, mask))

"""Fitting the score's scale and bias to training batches before training starts.

A model started from an embedding model (`start_as_embedder=True`) ranks labels well before any
training, but `sigmoid(scale * cosine + bias)` with arbitrary scale and bias gives poor
probabilities, and the first gradient steps would then bend the vectors to fix what two scalars
can fix. A one-feature logistic regression of the targets on the cosines sets them instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from gliclass import GLiClassModel


def calibrate_scores(
    model: GLiClassModel, batches: Iterable[dict[str, torch.Tensor]], iterations: int = 100, balanced: bool = False
) -> tuple[float, float]:
    """Set `logit_scale` and `logit_bias` to the BCE-optimal values on `batches`; returns them.

    `balanced=True` weighs positives and negatives equally (positives are rare among sampled
    candidates), so a score of 0.5 marks where a label is as likely right as wrong whatever its
    prior, rather than the training data's base rate.
    """
    core = model.model
    if core.logit_bias is None or not model.config.normalize_features:
        raise ValueError("score calibration needs normalize_features=True and a logit bias (logit_bias_init_value).")
    cosines, targets = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in batches:
            output = model(batch["input_ids"], batch["attention_mask"])
            cosine = model.score(
                output.text_embeddings, output.label_embeddings, output.label_mask, output.text_mask, calibrated=False
            )
            cosines.append(cosine[output.label_mask].float())
            targets.append(batch["labels"][output.label_mask].float())
    model.train(was_training)
    if not cosines:
        raise ValueError("score calibration got no batches.")
    x, y = torch.cat(cosines), torch.cat(targets)
    scale = core.logit_scale.detach().float().clone().requires_grad_(True)
    bias = core.logit_bias.detach().float().clone().requires_grad_(True)
    pos_weight = (y.numel() - y.sum()) / y.sum().clamp(min=1) if balanced else None
    optimizer = torch.optim.LBFGS([scale, bias], max_iter=iterations, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.binary_cross_entropy_with_logits(scale * x + bias, y, pos_weight=pos_weight)
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        core.logit_scale.fill_(scale.item())
        core.logit_bias.fill_(bias.item())
    return scale.item(), bias.item()

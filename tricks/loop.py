"""The two loops every phase shares: one training epoch and one evaluation pass."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from tricks.metrics import classification_metrics

__all__ = ["LossFn", "evaluate", "train_one_epoch"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):  # type: ignore[no-untyped-def]
    if amp_dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    amp_dtype: torch.dtype | None = None,
    check_every: int = 50,
) -> tuple[float, bool]:
    """One pass over ``batches``; steps ``scheduler`` after every optimizer step.

    The loss is summed on the device and checked for NaN/inf every ``check_every``
    steps and at the end (a check makes the host wait for a GPU). A diverged epoch
    stops early; its weights are not worth keeping, and the caller restarts from
    the best ones.

    Returns:
        ``(mean loss, finite)``: the sample-weighted mean training loss (NaN or inf
        when it diverged) and whether every loss was finite.
    """
    model.train()
    total: Tensor | None = None
    count = 0
    for step, (x, y) in enumerate(batches, start=1):
        with _autocast(y.device, amp_dtype):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        weighted = loss.detach().float() * len(y)
        total = weighted if total is None else total + weighted
        count += len(y)
        if step % check_every == 0 and not bool(torch.isfinite(total)):
            return float(total) / count, False
    if total is None:
        return math.nan, True
    mean = float(total) / count
    return mean, math.isfinite(mean)


@torch.inference_mode()
def evaluate(
    model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int
) -> dict[str, Any]:
    """Predict every batch in float32 and return :func:`tricks.metrics.classification_metrics`.

    No autocast: under bfloat16 near-equal logits round to ties, and ``argmax``
    then picks the lowest index, the head class of a long-tailed dataset.
    """
    model.eval()
    preds, targets = [], []
    for x, y in batches:
        preds.append(model(x).argmax(1))
        targets.append(y)
    return classification_metrics(torch.cat(preds), torch.cat(targets), num_classes)

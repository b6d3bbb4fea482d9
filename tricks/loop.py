"""The two loops every phase shares: one training epoch and one evaluation pass."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from contextlib import nullcontext

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
) -> tuple[float, bool]:
    """One pass over ``batches``; steps ``scheduler`` after every optimizer step.

    Stops at the first non-finite loss without applying it.

    Returns:
        ``(mean loss, finite)``: the sample-weighted mean training loss (NaN when
        the first batch diverged) and whether every loss was finite.
    """
    model.train()
    total, count = torch.zeros(()), 0
    for x, y in batches:
        with _autocast(x.device, amp_dtype):
            loss = loss_fn(model(x), y)
        if not torch.isfinite(loss):
            return (float(total) / count if count else math.nan), False
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        total = total + loss.detach().float().cpu() * len(y)
        count += len(y)
    return float(total) / max(count, 1), True


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    num_classes: int,
    amp_dtype: torch.dtype | None = None,
) -> dict[str, object]:
    """Predict every batch and return :func:`tricks.metrics.classification_metrics`."""
    model.eval()
    preds, targets = [], []
    for x, y in batches:
        with _autocast(x.device, amp_dtype):
            preds.append(model(x).argmax(1))
        targets.append(y)
    return classification_metrics(torch.cat(preds), torch.cat(targets), num_classes)

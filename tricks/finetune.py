"""The no-augmentation fine-tune that closes training."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from tricks.loop import LossFn, train_one_epoch

__all__ = ["FinetuneResult", "no_aug_finetune"]


@dataclass
class FinetuneResult:
    """The metric before the fine-tune, after each of its epochs, and the gain."""

    before: float
    after: float
    per_epoch: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    @property
    def gain(self) -> float:
        return self.after - self.before


def no_aug_finetune(
    model: nn.Module,
    batches: Callable[[int], Iterable[tuple[Tensor, Tensor]]],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    evaluate: Callable[[nn.Module], float],
    epochs: int = 4,
    on_epoch: Callable[[int, float, float], None] | None = None,
    amp_dtype: torch.dtype | None = None,
    before: float | None = None,
) -> FinetuneResult:
    """Train a few epochs at a very low, constant learning rate without augmentation.

    The folklore trick, and the "fix the train-test resolution discrepancy"
    observation of Touvron et al. (NeurIPS 2019), https://arxiv.org/abs/1906.06423:
    augmentation shifts the training distribution away from the test one, and a
    short clean phase at the end moves the model back. ``optimizer`` should be
    built with the low learning rate (e.g. 1/100 of the peak); ``batches(epoch)``
    must yield *un-augmented* batches. The metric is measured before and after,
    so the gain is always visible.

    Args:
        model: The trained network, updated in place.
        batches: ``batches(epoch)`` yields ``(x, y)`` batches without augmentation.
        loss_fn: ``loss_fn(logits, targets)``.
        optimizer: Optimizer over ``model``'s parameters at the fine-tune LR.
        evaluate: Returns the validation metric of ``model`` (larger is better).
        epochs: Fine-tune epochs (3-6 is typical); 0 only measures.
        on_epoch: Called with ``(epoch, train_loss, metric)`` after each epoch.
        amp_dtype: Autocast dtype (e.g. ``torch.bfloat16`` on CUDA), or None.
        before: The metric of ``model`` as it is, if already measured (saves a pass).

    Returns:
        A :class:`FinetuneResult`. A non-finite loss ends the phase early, with
        the weights from before that epoch.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs=}")
    before = evaluate(model) if before is None else before
    result = FinetuneResult(before=before, after=before)
    for epoch in range(epochs):
        kept = copy.deepcopy(model.state_dict())
        loss, finite = train_one_epoch(model, batches(epoch), loss_fn, optimizer, None, amp_dtype)
        if not finite:  # keep the weights from before the diverged epoch
            model.load_state_dict(kept)
        metric = evaluate(model)
        result.per_epoch.append(metric)
        result.losses.append(loss)
        result.after = metric
        if on_epoch is not None:
            on_epoch(epoch, loss, metric)
        if not finite:
            break
    return result

"""Learning-rate schedules as pure functions of the step, and one adapter to torch.optim."""

from __future__ import annotations

import math
import typing
from typing import Literal

import torch
from torch.optim.lr_scheduler import LambdaLR

__all__ = [
    "SCHEDULE_KINDS",
    "ScheduleKind",
    "ScheduleLR",
    "steps_per_epoch",
    "warmup_cosine_lr",
    "warmup_tanh_lr",
]

ScheduleKind = Literal["cosine", "tanh"]
SCHEDULE_KINDS: tuple[str, ...] = typing.get_args(ScheduleKind)


def _check(
    warmup_steps: int, end_steps: int, max_lr: float, end_name: str, min_lr: float = 0.0
) -> None:
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps=}")
    if end_steps <= warmup_steps:
        raise ValueError(
            f"{end_name} must be > warmup_steps, got {end_name}={end_steps}, {warmup_steps=}"
        )
    if not max_lr > 0:
        raise ValueError(f"max_lr must be > 0, got {max_lr=}")
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"min_lr must be in [0, max_lr], got {min_lr=}, {max_lr=}")


def warmup_tanh_lr(
    step: int, warmup_steps: int, phase_steps: int, max_lr: float, min_lr: float = 0.0
) -> float:
    """Linear warmup, then the "modified tanh" decay of ``CustomScheduleTanh``.

    ``s = min(max(step - warmup_steps, -3) * 5 / (phase_steps - warmup_steps), 5)``,
    ``lr = min(max_lr * step / warmup_steps, max(max_lr * (1 - tanh(s - 2)) / 2, max_lr / 10000))``.
    The decay holds near ``max_lr`` just after warmup, falls fastest at 40% of the
    phase and is floored at ``max(min_lr, max_lr / 10000)`` from ``phase_steps`` on. The tanh
    shape follows Hsueh et al., "Stochastic Gradient Descent with Hyperbolic-Tangent
    Decay on Classification" (WACV 2019), https://arxiv.org/abs/1806.01593.

    Args:
        step: Optimizer step, >= 0.
        warmup_steps: Length of the linear warmup, >= 0 (0 means none).
        phase_steps: Step at which the decay reaches its floor, > ``warmup_steps``.
        max_lr: Peak learning rate, > 0.
        min_lr: Floor of the decay, in [0, max_lr].

    Returns:
        The learning rate at ``step``.

    Raises:
        ValueError: An argument out of range, named in the message.
    """
    _check(warmup_steps, phase_steps, max_lr, "phase_steps", min_lr)
    s = min(max(step - warmup_steps, -3.0) * 5 / (phase_steps - warmup_steps), 5.0)
    warm = max_lr * step / warmup_steps if warmup_steps > 0 else math.inf
    return min(warm, max(max_lr * (1 - math.tanh(s - 2)) / 2, max_lr / 10000, min_lr))


def warmup_cosine_lr(
    step: int, warmup_steps: int, total_steps: int, max_lr: float, min_lr: float = 0.0
) -> float:
    """Linear warmup to ``max_lr``, then half-cosine to ``min_lr`` at ``total_steps``.

    Cosine annealing from Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent
    with Warm Restarts" (ICLR 2017), https://arxiv.org/abs/1608.03983; linear
    warmup from Goyal et al., "Accurate, Large Minibatch SGD" (2017),
    https://arxiv.org/abs/1706.02677. Constant ``min_lr`` after ``total_steps``.

    Args:
        step: Optimizer step, >= 0.
        warmup_steps: Length of the linear warmup, >= 0.
        total_steps: Step at which ``min_lr`` is reached, > ``warmup_steps``.
        max_lr: Peak learning rate, > 0.
        min_lr: Final learning rate, in [0, max_lr].

    Returns:
        The learning rate at ``step``.

    Raises:
        ValueError: An argument out of range, named in the message.
    """
    _check(warmup_steps, total_steps, max_lr, "total_steps", min_lr)
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))


_CURVES = {"cosine": warmup_cosine_lr, "tanh": warmup_tanh_lr}


class _Factor:
    """Picklable ``LambdaLR`` factor: ``lr(step + 1) / max_lr``."""

    def __init__(
        self, kind: str, warmup_steps: int, phase_steps: int, max_lr: float, min_lr: float
    ) -> None:
        if kind not in _CURVES:
            raise ValueError(f"unknown schedule kind {kind!r}; valid: {', '.join(SCHEDULE_KINDS)}")
        _check(warmup_steps, phase_steps, max_lr, "phase_steps", min_lr)
        # Plain attributes only: LambdaLR.state_dict() stores this object's __dict__.
        self.kind, self.warmup_steps, self.phase_steps = kind, warmup_steps, phase_steps
        self.max_lr, self.min_lr = max_lr, min_lr

    def __call__(self, step: int) -> float:
        # Step counts from 1 so that the first optimizer step does not run at lr=0.
        fn = _CURVES[self.kind]
        lr = fn(step + 1, self.warmup_steps, self.phase_steps, self.max_lr, self.min_lr)
        return lr / self.max_lr


class ScheduleLR(LambdaLR):
    """Drives any ``torch.optim`` optimizer with :func:`warmup_cosine_lr` or :func:`warmup_tanh_lr`.

    Sets every parameter group's learning rate to ``max_lr`` times the schedule's
    factor; call ``step()`` after each optimizer step. ``state_dict`` and
    ``load_state_dict`` come from ``LambdaLR``.

    Args:
        optimizer: The optimizer to drive.
        kind: ``"cosine"`` or ``"tanh"``.
        warmup_steps: Linear warmup length in optimizer steps.
        phase_steps: Step at which the decay ends.
        max_lr: Peak learning rate.
        min_lr_factor: The decay's floor as a fraction of ``max_lr`` (0 lets cosine
            reach exactly 0; steps after ``phase_steps`` then train nothing).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        kind: str,
        warmup_steps: int,
        phase_steps: int,
        max_lr: float,
        min_lr_factor: float = 0.0,
    ) -> None:
        self.max_lr = max_lr
        for group in optimizer.param_groups:
            group["lr"] = max_lr
            group["initial_lr"] = max_lr
        factor = _Factor(kind, warmup_steps, phase_steps, max_lr, max_lr * min_lr_factor)
        super().__init__(optimizer, factor)


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Optimizer steps in one epoch (the last batch may be smaller); schedules count these."""
    return math.ceil(n_images / batch_size)

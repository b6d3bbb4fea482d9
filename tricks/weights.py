"""Class weights that reweight the cost of rare classes."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

__all__ = ["WEIGHT_MODES", "WeightMode", "class_weights"]

WeightMode = Literal["inverse", "effective"]
WEIGHT_MODES: tuple[str, ...] = typing.get_args(WeightMode)


def class_weights(
    counts: Sequence[int] | Tensor,
    power: float = 1.0,
    mode: str = "inverse",
    beta: float = 0.999,
) -> Tensor:
    """Per-class loss weights from training counts.

    ``mode="inverse"``: ``(max(counts) / counts) ** power``. Counts ``[5000, 10000]``
    give ``[2.0, 1.0]``, i.e. the cost ``y1 * (10000/5000) * log(p1) + y2 * log(p2)``;
    ``power`` in (0, 1) softens it (0.5 is the square-root variant).

    ``mode="effective"``: the "effective number of samples" weights of Cui et al.,
    "Class-Balanced Loss Based on Effective Number of Samples" (CVPR 2019),
    https://arxiv.org/abs/1901.05555: ``(1 - beta) / (1 - beta ** n_c)``, normalised
    to sum to the number of classes as in the paper so the loss keeps its scale.

    Args:
        counts: Training images per class, all > 0.
        power: Exponent for ``"inverse"``, >= 0 (0 gives all ones).
        mode: ``"inverse"`` or ``"effective"``.
        beta: For ``"effective"``, in [0, 1).

    Returns:
        A float32 tensor of shape ``(C,)``.

    Raises:
        ValueError: Empty or non-positive counts, or an out-of-range argument.
    """
    n = torch.as_tensor(counts, dtype=torch.float64)
    if n.ndim != 1 or n.numel() == 0:
        raise ValueError(f"counts must be a non-empty 1-D sequence, got shape {tuple(n.shape)}")
    if bool((n <= 0).any()):
        raise ValueError(f"every class count must be > 0, got {n.tolist()}")
    if mode == "inverse":
        if power < 0:
            raise ValueError(f"power must be >= 0, got {power=}")
        w = (n.max() / n) ** power
    elif mode == "effective":
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta=}")
        w = (1 - beta) / (1 - beta**n)
        w = w * len(n) / w.sum()
    else:
        raise ValueError(f"unknown class-weight mode {mode!r}; valid: {', '.join(WEIGHT_MODES)}")
    return w.float()

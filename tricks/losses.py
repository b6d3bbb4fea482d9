"""Loss functions for imbalanced classification: focal loss and balanced softmax."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FocalLoss", "balanced_softmax_loss", "sigmoid_focal_loss", "softmax_focal_loss"]


def _reduce(loss: Tensor, reduction: str, weight_sum: Tensor | None = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / weight_sum if weight_sum is not None else loss.mean()
    raise ValueError(
        f"Invalid value for arg 'reduction': '{reduction}'. "
        "Supported reduction modes: 'none', 'mean', 'sum'"
    )


def sigmoid_focal_loss(
    logits: Tensor,
    targets: Tensor,
    alpha: float = 0.25,
    gamma: float = 2.0,
    reduction: str = "mean",
) -> Tensor:
    """Binary / multi-label focal loss on logits, computed in log space.

    From Lin et al., "Focal Loss for Dense Object Detection" (ICCV 2017),
    https://arxiv.org/abs/1708.02002. Equal elementwise to
    ``torchvision.ops.sigmoid_focal_loss`` for the same ``alpha`` and ``gamma``:
    ``alpha_t * (1 - p_t) ** gamma * BCE(logit, y)``. The modulating factor is
    ``exp(gamma * log(1 - p_t))`` with ``log(1 - p_t)`` taken from ``logsigmoid``,
    so the loss and its gradient stay finite for logits of +-100 without an
    epsilon.

    Args:
        logits: Any shape, raw scores.
        targets: Same shape as ``logits``, 0 or 1 (soft labels interpolate the
            log-modulating factor linearly).
        alpha: Weight of positives in [0, 1]; negatives get ``1 - alpha``. A
            negative value disables the weighting, as in torchvision.
        gamma: Focusing parameter, >= 0. ``gamma=0`` is (alpha-weighted) BCE.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The loss, reduced as asked.

    Raises:
        ValueError: ``gamma < 0``, ``alpha > 1`` or an unknown reduction.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma=}")
    if alpha > 1:
        raise ValueError(f"alpha must be <= 1 (negative disables it), got {alpha=}")
    targets = targets.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    # log(1 - p_t): log(1 - p) = logsigmoid(-x) for positives, log(p) = logsigmoid(x) for negatives.
    log_one_minus_pt = targets * F.logsigmoid(-logits) + (1 - targets) * F.logsigmoid(logits)
    loss = ce if gamma == 0 else ce * torch.exp(gamma * log_one_minus_pt)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def softmax_focal_loss(
    logits: Tensor,
    targets: Tensor,
    gamma: float = 2.0,
    alpha: float | Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class focal loss on logits and class indices.

    The softmax form of Lin et al. (ICCV 2017), https://arxiv.org/abs/1708.02002:
    ``-alpha_t * (1 - p_t) ** gamma * log(p_t)``. ``log(1 - p_t)`` is the
    log-sum-exp of the other classes' log-probabilities, which is exact and
    finite for logits of +-100. With ``gamma=0`` it equals
    ``F.cross_entropy(logits, targets, weight=alpha)`` in value and gradient; a
    per-class ``alpha`` is how class weights and focal loss combine.

    Args:
        logits: ``(N, C)`` raw scores.
        targets: ``(N,)`` class indices.
        gamma: Focusing parameter, >= 0.
        alpha: ``None``, a float scaling every sample, or a ``(C,)`` tensor of
            per-class weights. With a tensor, ``"mean"`` divides by the sum of the
            targets' weights, as ``F.cross_entropy`` does.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The loss, reduced as asked.

    Raises:
        ValueError: ``gamma < 0``, a wrongly shaped ``alpha`` or an unknown reduction.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0, got {gamma=}")
    log_probs = F.log_softmax(logits, dim=1)
    logp_t = log_probs.gather(1, targets[:, None]).squeeze(1)
    loss = -logp_t
    if gamma != 0:
        others = log_probs.masked_fill(F.one_hot(targets, logits.shape[1]).bool(), float("-inf"))
        loss = loss * torch.exp(gamma * torch.logsumexp(others, dim=1))
    weight_sum = None
    if isinstance(alpha, Tensor):
        if alpha.shape != (logits.shape[1],):
            raise ValueError(
                f"alpha must have shape ({logits.shape[1]},), got {tuple(alpha.shape)}"
            )
        alpha_t = alpha.to(loss.dtype)[targets]
        loss = alpha_t * loss
        weight_sum = alpha_t.sum()
    elif alpha is not None:
        loss = float(alpha) * loss
    return _reduce(loss, reduction, weight_sum)


def balanced_softmax_loss(
    logits: Tensor, targets: Tensor, class_counts: Tensor, reduction: str = "mean"
) -> Tensor:
    """Balanced softmax cross entropy: shift logits by the log class prior.

    From Ren et al., "Balanced Meta-Softmax for Long-Tailed Visual Recognition"
    (NeurIPS 2020), https://arxiv.org/abs/2007.10740.

    Args:
        logits: ``(N, C)`` raw scores.
        targets: ``(N,)`` class indices.
        class_counts: ``(C,)`` training images per class, all > 0.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Returns:
        The loss, reduced as asked.
    """
    prior = class_counts.to(device=logits.device, dtype=logits.dtype).log()
    return F.cross_entropy(logits + prior, targets, reduction=reduction)


class FocalLoss(nn.Module):
    """Module wrapper holding the arguments of :func:`softmax_focal_loss`."""

    def __init__(
        self, gamma: float = 2.0, alpha: float | Tensor | None = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma=}")
        self.gamma = gamma
        self.reduction = reduction
        if isinstance(alpha, Tensor):
            self.register_buffer("alpha", alpha.float())
        else:
            self.alpha = alpha

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return softmax_focal_loss(logits, targets, self.gamma, self.alpha, self.reduction)

"""Config → object factories: the loss and the optimizer of a trick config."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tricks.config import LossConfig, TrainConfig
from tricks.loop import LossFn
from tricks.losses import balanced_softmax_loss, sigmoid_focal_loss, softmax_focal_loss
from tricks.weights import class_weights

__all__ = ["build_loss", "build_optimizer"]


def _sigmoid_focal_multiclass(
    logits: Tensor, targets: Tensor, alpha: float, gamma: float
) -> Tensor:
    # RetinaNet's form: one sigmoid per class on one-hot targets, normalised by the batch size.
    onehot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return sigmoid_focal_loss(logits, onehot, alpha, gamma, reduction="sum") / len(targets)


def build_loss(
    cfg: LossConfig, class_counts: list[int], epoch: int, device: torch.device
) -> LossFn:
    """The loss of ``cfg`` for ``epoch``; weighted kinds use weights from ``weights_from_epoch`` on.

    Deferred re-weighting (weights only late in training) follows Cao et al., "LDAM-DRW"
    (NeurIPS 2019), https://arxiv.org/abs/1906.07413.

    Raises:
        ValueError: An unknown loss kind (the valid ones are listed).
    """
    weights: Tensor | None = None
    if cfg.weighted and epoch >= cfg.weights_from_epoch:
        weights = class_weights(class_counts, cfg.weight_power, cfg.weight_mode, cfg.weight_beta)
        weights = weights.to(device)
    if cfg.kind in ("ce", "weighted_ce"):
        return functools.partial(F.cross_entropy, weight=weights)
    if cfg.kind in ("focal", "weighted_focal"):
        return functools.partial(softmax_focal_loss, gamma=cfg.focal_gamma, alpha=weights)
    if cfg.kind == "sigmoid_focal":
        return functools.partial(
            _sigmoid_focal_multiclass, alpha=cfg.focal_alpha, gamma=cfg.focal_gamma
        )
    if cfg.kind == "balanced_softmax":
        counts = torch.tensor(class_counts, dtype=torch.float32, device=device)
        return functools.partial(balanced_softmax_loss, class_counts=counts)
    raise ValueError(f"unknown loss kind {cfg.kind!r}")


def build_optimizer(model: nn.Module, cfg: TrainConfig, lr: float) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum or AdamW at ``lr``, weight decay from ``cfg``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=lr,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
            nesterov=cfg.momentum > 0,
        )
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: sgd, adamw")

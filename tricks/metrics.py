"""Classification metrics for imbalanced data, from a confusion matrix."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["classification_metrics", "confusion_matrix", "without_confusion"]


def confusion_matrix(preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """``(C, C)`` counts; row = true class, column = predicted class."""
    flat = targets.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes**2).view(num_classes, num_classes).cpu()


def classification_metrics(preds: Tensor, targets: Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1 and per-class accuracy.

    Balanced accuracy is the mean per-class recall (Brodersen et al., ICPR 2010),
    the default selection metric for imbalanced data. Classes absent from
    ``targets`` are left out of the means (their recall is NaN in
    ``per_class_accuracy``); a class never predicted has precision 0.

    Returns:
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` (floats in [0, 1]),
        ``per_class_accuracy`` (list of floats) and ``confusion`` (list of lists).
    """
    cm = confusion_matrix(preds, targets, num_classes).double()
    tp = cm.diag()
    support = cm.sum(1)
    predicted = cm.sum(0)
    present = support > 0
    recall = tp / support  # NaN where a class has no samples
    precision = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom, torch.zeros_like(tp))
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total) if total > 0 else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class_accuracy": recall.tolist(),
        "confusion": cm.long().tolist(),
    }


def without_confusion(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` without the confusion matrix: the scalars and per-class lists, for logs."""
    return {k: v for k, v in metrics.items() if k != "confusion"}

"""Classification metrics for imbalanced data, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from tricks.metrics import classification_metrics, without_confusion


def test_balanced_accuracy_is_the_mean_recall_and_macro_f1_the_mean_f1() -> None:
    # Class 0: 4 samples, 3 right; class 1: 2 samples, 1 right (the other called 0).
    targets = torch.tensor([0, 0, 0, 0, 1, 1])
    preds = torch.tensor([0, 0, 0, 1, 1, 0])
    m = classification_metrics(preds, targets, 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    f1_0 = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)  # precision 3/4, recall 3/4
    f1_1 = 2 * (1 / 2) * (1 / 2) / (1 / 2 + 1 / 2)  # precision 1/2, recall 1/2
    assert m["macro_f1"] == pytest.approx((f1_0 + f1_1) / 2)
    assert m["per_class_accuracy"] == pytest.approx([0.75, 0.5])
    assert m["confusion"] == [[3, 1], [1, 1]]


def test_a_class_absent_from_the_targets_is_left_out_of_the_means() -> None:
    # Three classes, no sample of class 2; one sample of class 0 is predicted as 2.
    targets = torch.tensor([0, 0, 1, 1])
    preds = torch.tensor([0, 2, 1, 1])
    m = classification_metrics(preds, targets, 3)
    assert m["balanced_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert math.isnan(m["per_class_accuracy"][2])
    f1_0 = 2 * 1 * (1 / 2) / (1 + 1 / 2)  # precision 1, recall 1/2
    assert m["macro_f1"] == pytest.approx((f1_0 + 1.0) / 2)


def test_a_class_never_predicted_has_f1_zero_and_no_nan() -> None:
    m = classification_metrics(torch.tensor([0, 0, 0]), torch.tensor([0, 0, 1]), 2)
    assert m["macro_f1"] == pytest.approx((2 * (2 / 3) * 1 / (2 / 3 + 1) + 0.0) / 2)
    assert not math.isnan(m["macro_f1"])
    assert "confusion" not in without_confusion(m) and "macro_f1" in without_confusion(m)

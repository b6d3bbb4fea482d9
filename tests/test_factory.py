"""Config to loss: each kind builds the loss its paper defines; weights switch on late (DRW)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tricks.config import LossConfig
from tricks.factory import build_loss
from tricks.losses import balanced_softmax_loss, softmax_focal_loss
from tricks.weights import class_weights

COUNTS = [100, 10]
LOGITS = torch.tensor([[2.0, -1.0], [0.5, 0.2], [-0.3, 1.0]])
TARGETS = torch.tensor([0, 1, 1])


def loss_of(epoch: int = 0, **fields: object) -> float:
    fn = build_loss(LossConfig(**fields), COUNTS, epoch, torch.device("cpu"))
    return float(fn(LOGITS, TARGETS))


def test_each_kind_is_the_loss_it_names() -> None:
    w = class_weights(COUNTS, 1.0, "inverse", 0.999)
    prior = torch.tensor(COUNTS, dtype=torch.float32)
    assert loss_of(kind="ce") == pytest.approx(float(F.cross_entropy(LOGITS, TARGETS)))
    assert loss_of(kind="weighted_ce") == pytest.approx(
        float(F.cross_entropy(LOGITS, TARGETS, weight=w))
    )
    assert loss_of(kind="focal", focal_gamma=2.0) == pytest.approx(
        float(softmax_focal_loss(LOGITS, TARGETS, gamma=2.0))
    )
    assert loss_of(kind="balanced_softmax") == pytest.approx(
        float(balanced_softmax_loss(LOGITS, TARGETS, prior))
    )


def test_deferred_weights_start_at_their_epoch() -> None:
    plain = loss_of(kind="ce")
    cfg = {"kind": "weighted_ce", "weights_from_epoch": 3}
    assert loss_of(epoch=2, **cfg) == pytest.approx(plain)  # before: unweighted
    assert loss_of(epoch=3, **cfg) != pytest.approx(plain)  # from epoch 3: weighted
    assert loss_of(epoch=3, **cfg) == pytest.approx(loss_of(kind="weighted_ce"))


@pytest.mark.parametrize("beta", [0.9, 0.9999])
def test_effective_number_weights_follow_beta(beta: float) -> None:
    w = class_weights(COUNTS, 1.0, "effective", beta)
    expected = float(F.cross_entropy(LOGITS, TARGETS, weight=w))
    assert loss_of(kind="weighted_ce", weight_mode="effective", weight_beta=beta) == (
        pytest.approx(expected)
    )

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

from tricks import FocalLoss, sigmoid_focal_loss, softmax_focal_loss
from tricks.losses import balanced_softmax_loss


def tf_formulation(
    logits: torch.Tensor, y: torch.Tensor, alpha: float, gamma: float
) -> torch.Tensor:
    """The trick's original formulation, in float64, straight from the issue."""
    p = torch.sigmoid(logits)
    pos_weight = ((1 / p - 1) ** gamma) * alpha / (1 - alpha)
    weight = p**gamma * (1 - alpha)
    wce = (1 - y) * logits + (1 + (pos_weight - 1) * y) * torch.log(1 + torch.exp(-logits))
    return weight * wce


@pytest.mark.parametrize(("alpha", "gamma"), [(0.35, 3.0), (0.25, 2.0), (0.5, 0.5)])
def test_sigmoid_focal_equals_tf_formulation_and_torchvision(alpha: float, gamma: float) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 5, generator=gen, dtype=torch.float64) * 4
    y = (torch.rand(64, 5, generator=gen) < 0.3).double()
    ours = sigmoid_focal_loss(logits, y, alpha, gamma, reduction="none")
    torch.testing.assert_close(ours, tf_formulation(logits, y, alpha, gamma))
    tv = torchvision.ops.sigmoid_focal_loss(logits, y, alpha, gamma, reduction="none")
    torch.testing.assert_close(ours, tv)
    torch.testing.assert_close(
        sigmoid_focal_loss(logits, y, alpha, gamma, reduction="mean"), tv.mean()
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_focal_gamma0_is_cross_entropy_value_and_gradient(
    reduction: str, weighted: bool
) -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(32, 4, generator=gen, dtype=torch.float64)
    targets = torch.randint(0, 4, (32,), generator=gen)
    weight = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64) if weighted else None
    a = logits.clone().requires_grad_()
    b = logits.clone().requires_grad_()
    ours = softmax_focal_loss(a, targets, gamma=0.0, alpha=weight, reduction=reduction)
    ref = F.cross_entropy(b, targets, weight=weight, reduction=reduction)
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_softmax_focal_down_weights_easy_examples() -> None:
    logits = torch.tensor([[4.0, 0.0], [0.2, 0.0]])
    targets = torch.tensor([0, 0])
    ce = F.cross_entropy(logits, targets, reduction="none")
    focal = softmax_focal_loss(logits, targets, gamma=2.0, reduction="none")
    p = torch.softmax(logits, 1)[:, 0]
    torch.testing.assert_close(focal, (1 - p) ** 2 * ce)
    assert focal[0] / ce[0] < focal[1] / ce[1]


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_losses_finite_with_finite_gradients_at_extreme_logits(gamma: float) -> None:
    logits = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 3.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    loss = sigmoid_focal_loss(logits, y, 0.25, gamma)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()

    logits2 = torch.tensor([[100.0, -100.0, 0.0], [-100.0, 100.0, 3.0]], requires_grad=True)
    loss2 = softmax_focal_loss(
        logits2, torch.tensor([0, 0]), gamma=gamma, alpha=torch.tensor([1.0, 2.0, 3.0])
    )
    loss2.backward()
    assert torch.isfinite(loss2) and torch.isfinite(logits2.grad).all()
    # The wrong-class sample with logit gap 200 dominates: its loss is about 200.
    assert 50 < loss2.item() < 201


def test_focal_module_and_argument_errors() -> None:
    logits = torch.randn(8, 3)
    targets = torch.randint(0, 3, (8,))
    alpha = torch.tensor([1.0, 2.0, 3.0])
    module = FocalLoss(gamma=1.5, alpha=alpha)
    torch.testing.assert_close(
        module(logits, targets), softmax_focal_loss(logits, targets, 1.5, alpha)
    )
    with pytest.raises(ValueError, match="gamma"):
        softmax_focal_loss(logits, targets, gamma=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        softmax_focal_loss(logits, targets, reduction="avg")
    with pytest.raises(ValueError, match="alpha must have shape"):
        softmax_focal_loss(logits, targets, alpha=torch.ones(4))


def test_balanced_softmax_shifts_by_log_prior() -> None:
    logits = torch.randn(6, 3)
    targets = torch.randint(0, 3, (6,))
    counts = torch.tensor([100.0, 10.0, 1.0])
    torch.testing.assert_close(
        balanced_softmax_loss(logits, targets, counts),
        F.cross_entropy(logits + counts.log(), targets),
    )

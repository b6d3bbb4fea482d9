from __future__ import annotations

import torch
import torch.nn.functional as F

from tricks import no_aug_finetune


def toy():
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Linear(4, 2)
    return model, [(x, y)], lambda m: float((m(x).argmax(1) == y).float().mean())


def test_finetune_measures_before_and_after_each_epoch() -> None:
    model, batches, evaluate = toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    seen = []
    result = no_aug_finetune(
        model,
        lambda e: batches,
        F.cross_entropy,
        opt,
        evaluate,
        epochs=3,
        on_epoch=lambda e, loss, m: seen.append((e, m)),
    )
    assert [e for e, _ in seen] == [0, 1, 2]
    assert result.per_epoch == [m for _, m in seen]
    assert result.after == result.per_epoch[-1] == evaluate(model)
    assert result.gain == result.after - result.before
    assert result.after > result.before


def test_a_diverged_finetune_epoch_keeps_the_weights_from_before() -> None:
    model, batches, evaluate = toy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    result = no_aug_finetune(
        model,
        lambda e: batches,
        lambda logits, y: logits.sum() * float("nan"),
        opt,
        evaluate,
        epochs=3,
    )
    assert len(result.per_epoch) == 1 and result.after == result.before
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])

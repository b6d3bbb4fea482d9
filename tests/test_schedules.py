from __future__ import annotations

import math

import pytest
import torch

from tricks import ScheduleLR, warmup_cosine_lr, warmup_tanh_lr


def reference_tanh(step: float, warmup: float, phase: float, max_lr: float) -> float:
    s = min(max(step - warmup, -3.0) * 5 / (phase - warmup), 5.0)
    return min(max_lr * step / warmup, max(max_lr * (1 - math.tanh(s - 2)) / 2, max_lr / 10000))


@pytest.mark.parametrize("step", [0, 1, 50, 99, 100, 101, 250, 400, 550, 1000, 1001, 5000])
def test_tanh_equals_the_formula(step: int) -> None:
    assert warmup_tanh_lr(step, 100, 1000, 0.1) == pytest.approx(
        reference_tanh(step, 100, 1000, 0.1)
    )


def test_tanh_defining_points() -> None:
    max_lr = 0.2
    # Warmup is linear up to the boundary, where the tanh term is nearly max_lr.
    assert warmup_tanh_lr(50, 100, 1000, max_lr) == pytest.approx(0.1)
    at_boundary = warmup_tanh_lr(100, 100, 1000, max_lr)
    assert at_boundary == pytest.approx(max_lr * (1 - math.tanh(-2)) / 2)
    assert at_boundary == pytest.approx(0.982 * max_lr, rel=1e-3)
    # Inside the phase: s = 2 at 40% of the phase, where lr = max_lr / 2.
    assert warmup_tanh_lr(100 + 360, 100, 1000, max_lr) == pytest.approx(max_lr / 2)
    # At and past phase_steps the max_lr / 10000 floor holds.
    for step in (1000, 1500, 10**6):
        assert warmup_tanh_lr(step, 100, 1000, max_lr) == pytest.approx(
            max(max_lr * (1 - math.tanh(3)) / 2, max_lr / 10000)
        )
    assert warmup_tanh_lr(10**6, 100, 1000, 1.0) >= 1.0 / 10000


def test_cosine_defining_points() -> None:
    assert warmup_cosine_lr(0, 10, 110, 1.0) == 0.0
    assert warmup_cosine_lr(5, 10, 110, 1.0) == pytest.approx(0.5)
    assert warmup_cosine_lr(10, 10, 110, 1.0) == pytest.approx(1.0)
    assert warmup_cosine_lr(60, 10, 110, 1.0, min_lr=0.2) == pytest.approx(0.6)
    assert warmup_cosine_lr(110, 10, 110, 1.0, min_lr=0.2) == pytest.approx(0.2)
    assert warmup_cosine_lr(500, 10, 110, 1.0, min_lr=0.2) == pytest.approx(0.2)
    assert warmup_cosine_lr(0, 0, 100, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("fn", "args", "match"),
    [
        (warmup_tanh_lr, (0, -1, 100, 0.1), "warmup_steps"),
        (warmup_tanh_lr, (0, 100, 100, 0.1), "phase_steps"),
        (warmup_tanh_lr, (0, 10, 100, 0.0), "max_lr"),
        (warmup_cosine_lr, (0, 10, 5, 0.1), "total_steps"),
        (warmup_cosine_lr, (0, 10, 50, -0.1), "max_lr"),
    ],
)
def test_invalid_arguments_name_the_value(fn, args, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fn(*args)


@pytest.mark.parametrize("kind", ["cosine", "tanh"])
def test_adapter_drives_an_optimizer_and_round_trips_state(kind: str) -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=123.0)
    sched = ScheduleLR(opt, kind, warmup_steps=5, phase_steps=20, max_lr=0.4)
    fn = warmup_cosine_lr if kind == "cosine" else warmup_tanh_lr
    seen = []
    for _ in range(12):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [fn(s + 1, 5, 20, 0.4) for s in range(12)]
    assert seen == pytest.approx(expected)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = ScheduleLR(opt2, kind, 5, 20, 0.4)
    sched2.load_state_dict(state)
    opt2.step()
    sched2.step()
    opt.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])
    with pytest.raises(ValueError, match="valid: cosine, tanh"):
        ScheduleLR(opt, "step", 5, 20, 0.4)


def test_cosine_after_its_phase_keeps_training_at_the_floor() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = ScheduleLR(
        opt, "cosine", warmup_steps=10, phase_steps=60, max_lr=0.1, min_lr_factor=0.01
    )
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert min(lrs[1:]) == pytest.approx(0.001)
    assert lrs[70:] == [pytest.approx(0.001)] * 30
    # Exactly zero only when asked for.
    assert warmup_cosine_lr(80, 10, 60, 0.1, min_lr=0.0) == 0.0


def test_trainer_schedule_never_runs_at_zero_lr_by_default() -> None:
    from tricks.config import ScheduleConfig

    assert ScheduleConfig().min_lr_factor > 0
    assert warmup_tanh_lr(500, 10, 60, 0.1, min_lr=0.002) == pytest.approx(0.002)

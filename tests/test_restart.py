from __future__ import annotations

import math

import pytest

from tricks import Decision, RestartController


def drive(controller: RestartController, values, diverged=(), requests=None, lr=0.1):
    """Feed a scripted metric sequence; perform every restart like a loop would."""
    requests = requests or {}
    decisions = []
    for epoch, value in enumerate(values):
        decision, reason = controller.observe(epoch, value, epoch in diverged, requests.get(epoch))
        decisions.append((decision, reason))
        if decision is Decision.RESTART:
            lr = controller.record(epoch, reason, lr, value).lr_after
        if decision is Decision.STOP:
            break
    return decisions, [e.to_dict() for e in controller.events]


def test_plateau_restarts_after_patience_and_scales_lr() -> None:
    c = RestartController(patience=2, min_delta=0.01, lr_factor=0.5, max_restarts=2)
    values = [0.5, 0.6, 0.605, 0.60, 0.7, 0.69, 0.70, 0.705, 0.70]
    decisions, events = drive(c, values)
    assert events == [
        {"epoch": 3, "reason": "plateau", "lr_before": 0.1, "lr_after": 0.05, "value": 0.60},
        {"epoch": 6, "reason": "plateau", "lr_before": 0.05, "lr_after": 0.025, "value": 0.70},
    ]
    # With restarts used up a further plateau just continues.
    assert decisions[-1] == (Decision.CONTINUE, None)
    assert c.best == 0.7 and c.best_epoch == 4


def test_external_request_restarts_then_stops_when_used_up() -> None:
    c = RestartController(patience=0, lr_factor=2.0, max_restarts=1)
    decisions, events = drive(c, [0.1, 0.2, 0.3, 0.4], requests={1: "pruned", 3: "pruned"})
    assert events == [
        {"epoch": 1, "reason": "pruned", "lr_before": 0.1, "lr_after": 0.2, "value": 0.2}
    ]
    assert decisions[3] == (Decision.STOP, "pruned")


def test_nan_loss_restarts_as_diverged_and_never_counts_as_best() -> None:
    c = RestartController(patience=5, lr_factor=0.1, max_restarts=1)
    decisions, events = drive(c, [0.3, math.nan, 0.4, math.nan], diverged={1, 3})
    assert [e["reason"] for e in events] == ["diverged"]
    assert events[0]["lr_after"] == pytest.approx(0.01)
    assert decisions[3] == (Decision.STOP, "diverged")
    assert c.best == 0.4


def test_replay_restarts_exactly_at_recorded_epochs() -> None:
    c = RestartController(patience=1, lr_factor=0.5, max_restarts=2, replay={2: "pruned"})
    # Flat values would trigger plateaus every epoch; in replay mode only epoch 2 restarts.
    _, events = drive(c, [0.5, 0.5, 0.5, 0.5, 0.5])
    assert [(e["epoch"], e["reason"]) for e in events] == [(2, "pruned")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"patience": -1}, "patience"),
        ({"lr_factor": 0.0}, "lr_factor"),
        ({"max_restarts": -1}, "max_restarts"),
        ({"mode": "up"}, "mode"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RestartController(**kwargs)


def test_no_restart_without_training_epochs_left() -> None:
    ctl = RestartController(patience=1, max_restarts=3)
    ctl.observe(0, 0.5)
    # A plateau at the last epoch is ignored; a request or a divergence stops.
    assert ctl.observe(1, 0.4, epochs_left=0) == (Decision.CONTINUE, None)
    assert ctl.observe(2, 0.4, request="pruned", epochs_left=0) == (Decision.STOP, "pruned")
    assert ctl.observe(3, math.nan, diverged=True, epochs_left=0) == (Decision.STOP, "diverged")
    assert ctl.events == [] and ctl.restarts_left == 3
    # With epochs left, the same plateau restarts.
    assert ctl.observe(4, 0.4, epochs_left=2) == (Decision.RESTART, "plateau")

"""benchmarks/anytime.py: best-so-far test accuracy of the val-best trial, by epochs spent."""

from __future__ import annotations

import math

from tests.conftest import load_benchmark

anytime = load_benchmark("anytime")


def unit(trials: list[tuple[str, float | None, float, str | None]]) -> dict:
    """Trials of 40 epochs: (state, validation value, test value, recipe)."""
    rows = [
        {"number": i, "state": s, "value": v, "test": t, "epochs": 40, "recipe": r}
        for i, (s, v, t, r) in enumerate(trials)
    ]
    return {"trials": rows}


A = unit(
    [
        ("pruned", 0.9, 0.5, None),
        ("complete", 0.80, 0.78, "plain CE"),
        ("complete", 0.85, 0.84, "balanced softmax"),
        ("complete", 0.84, 0.90, None),
    ]
)
B = unit([("complete", 0.70, 0.70, "plain CE"), ("complete", 0.86, 0.88, "balanced softmax")])


def test_the_pick_is_the_validation_best_complete_trial_so_far() -> None:
    curve = anytime.best_so_far(A)
    # A pruned trial is never the pick; a better test value with a worse val is not either.
    assert [s for s, _ in curve] == [40, 80, 120, 160]
    assert math.isnan(curve[0][1]) and [t for _, t in curve[1:]] == [0.78, 0.84, 0.84]
    assert math.isnan(anytime.at(curve, 39)) and anytime.at(curve, 100) == 0.78


def test_band_level_and_epochs_to_the_level() -> None:
    curves = [anytime.best_so_far(A), anytime.best_so_far(B)]
    rows = anytime.band(curves, [40, 80, 120])
    assert [r[0] for r in rows] == [80, 120]  # at 40 epochs A had no complete trial yet
    assert math.isclose(rows[-1][1], (0.84 + 0.88) / 2)
    name, level = anytime.recipe_level([A, B])
    assert name == "balanced softmax" and math.isclose(level, (0.84 + 0.88) / 2)
    assert anytime.epochs_to(curves, 0.85) == [None, 80]
    lines = anytime.table({"x": curves}, (name, level), [80, 120])
    assert "| x | 2 |" in lines[-1] and lines[-1].endswith("| never, 80 | never |")

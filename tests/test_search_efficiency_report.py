"""benchmarks/search_efficiency.py's per-seed table: what each arm selected, side by side."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))  # the script imports its sibling unit_lock
_spec = importlib.util.spec_from_file_location("search_efficiency", BENCH / "search_efficiency.py")
assert _spec is not None and _spec.loader is not None
search_efficiency = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(search_efficiency)


def search_unit(arm: str, seed: int, picks: list[tuple[float, float, str | None]]) -> dict:
    """A stored search unit whose trials (val, test, recipe) each spent 40 epochs."""
    trials = [
        {
            "number": i,
            "state": "complete",
            "value": val,
            "epochs": 40,
            "params": {"loss_kind": "balanced_softmax"},
            "recipe": recipe,
            "test": test,
        }
        for i, (val, test, recipe) in enumerate(picks)
    ]
    best = max(trials, key=lambda t: t["value"])
    trace, top = [], -1.0
    for i, t in enumerate(trials):
        top = max(top, t["value"])
        trace.append((40 * (i + 1), top))
    return {
        "arm": arm,
        "seed": seed,
        "val": best["value"],
        "test": best["test"],
        "epochs": 40 * len(trials),
        "trace": trace,
        "trials": trials,
    }


def test_per_seed_table_names_each_search_arms_pick_beside_the_floor() -> None:
    runs: dict[tuple[str, int], dict[str, Any]] = {
        ("tricksearch", 0): search_unit(
            "tricksearch", 0, [(0.88, 0.87, "deferred re-weighting"), (0.89, 0.8833, None)]
        ),
        ("tpe_median", 0): search_unit(
            "tpe_median", 0, [(0.85, 0.84, None), (0.8806, 0.8732, None)]
        ),
        ("best_recipe", 0): {"arm": "best_recipe", "seed": 0, "test": 0.8826, "trials": []},
    }
    lines = search_efficiency.per_seed(runs, ["tricksearch", "best_recipe", "tpe_median"])
    assert lines[0] == (
        "| seed | tricksearch: test (%) | best_recipe: test (%) | tpe_median: test (%) |"
    )
    assert lines[2] == (
        "| 0 | 88.33 (trial 1, TPE: balanced_softmax) | 88.26 "
        "| 87.32 (trial 1, TPE: balanced_softmax) |"
    )


def test_per_seed_table_marks_a_seed_an_arm_has_not_finished() -> None:
    runs = {
        ("tricksearch", s): search_unit("tricksearch", s, [(0.9, 0.88, "balanced softmax")])
        for s in (0, 1)
    }
    runs[("tpe_median", 0)] = search_unit("tpe_median", 0, [(0.87, 0.86, None)])
    lines = search_efficiency.per_seed(runs, ["tricksearch", "tpe_median"])
    assert lines[3] == "| 1 | 88.00 (trial 0, balanced softmax) | - |"

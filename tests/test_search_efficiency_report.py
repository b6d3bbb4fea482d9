"""benchmarks/search_efficiency.py's per-seed table: what each arm selected, side by side."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, load_benchmark
from tricks.data import DataBundle

search_efficiency = load_benchmark("search_efficiency")


def search_unit(arm: str, seed: int, picks: list[tuple[float, float, str | None]]) -> dict:
    """A stored search unit whose trials (val, test, recipe) each spent 40 epochs."""
    trials: list[dict[str, Any]] = [
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
    trace: list[tuple[int, float]] = []
    top = -1.0
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


def test_tpe_retrain_retrains_tpe_medians_pick_with_the_epochs_left(
    tmp_path: Path, tensors: DataBundle
) -> None:
    """The fair control for search_retrain: TPE + MedianPruner's pick, trained the same way."""
    params = {
        "lr": 0.05,
        "loss_kind": "balanced_softmax",
        "schedule_kind": "cosine",
        "warmup_fraction": 0.1,
        "phase_fraction": 0.9,
    }
    unit = search_unit("tpe_median", 0, [(0.5, 0.4, None), (0.7, 0.6, None), (0.6, 0.5, None)])
    for t in unit["trials"]:
        t["params"], t["epochs"] = params, 1
    unit["trace"] = [(1, 0.5), (2, 0.7), (3, 0.7)]
    (tmp_path / "tpe_median-0.json").write_text(json.dumps(unit))
    args = argparse.Namespace(epochs=1, max_per_class=60, startup=2, budget=5, search_share=0.5)
    assert search_efficiency.run_retrain(args, "search_retrain", 0, tensors, tmp_path) is None
    run = search_efficiency.run_retrain(args, "tpe_retrain", 0, tensors, tmp_path)
    assert run is not None
    # Half the budget (2.5 epochs) is reached after trial 2; its best is trial 1, retrained
    # for the 5 - 3 epochs left, with no fine-tune (tpe_median's configs have none).
    assert run["arm"] == "tpe_retrain"
    assert run["searched"] == [0, 1, 2]
    assert run["retrained"]["trial"] == 1
    assert run["retrained"]["train_epochs"] == 2
    assert run["epochs"] == 5


def test_search_retrain_is_paired_with_tpe_retrain_when_both_ran() -> None:
    runs = {}
    for seed, (ours, theirs) in enumerate([(0.89, 0.88), (0.88, 0.875)]):
        for arm, test in (("search_retrain", ours), ("tpe_retrain", theirs)):
            runs[(arm, seed)] = {
                "arm": arm,
                "seed": seed,
                "test": test,
                "val": test,
                "epochs": 10,
                "trials": [],
            }
    lines = search_efficiency.tables(runs, ["search_retrain", "tpe_retrain"])
    row = next(line for line in lines if line.startswith("| search_retrain - tpe_retrain"))
    assert row.startswith("| search_retrain - tpe_retrain | 2 | +0.75 ")


def test_the_tables_go_to_the_results_page_between_its_markers(tmp_path: Path) -> None:
    root = ROOT
    page = root / search_efficiency.PAGE
    stored = (root / "benchmarks" / "results" / "search_efficiency_full.md").read_text()
    assert stored.strip() in page.read_text()  # the page holds what the script last wrote
    copy = tmp_path / "page.md"
    copy.write_text(page.read_text())
    search_efficiency.write_page(copy, ["| new table |"])
    text = copy.read_text()
    assert "<!-- reference:search-efficiency -->\n| new table |\n<!--" in text
    assert stored.strip() not in text
    assert text.startswith("# Search efficiency at equal budget")


def test_a_run_that_would_mix_units_made_differently_is_refused(tmp_path: Path) -> None:
    args = argparse.Namespace(epochs=3, startup=2, budget=42, search_budget=0,
                              search_share=0.85, max_per_class=1000)  # fmt: skip
    key = search_efficiency.made_with(args)
    (tmp_path / "legacy-0.json").write_text(json.dumps({"arm": "x"}))  # before the record
    assert search_efficiency.mixed_units(tmp_path, key) is None
    (tmp_path / "tricksearch-0.json").write_text(json.dumps({"made_with": key}))
    assert search_efficiency.mixed_units(tmp_path, key) is None
    other = search_efficiency.made_with(argparse.Namespace(**{**vars(args), "epochs": 4}))
    assert other["study_sha256"] != key["study_sha256"]  # the trials' length is in the tables
    line = search_efficiency.mixed_units(tmp_path, other)
    assert line is not None and "other epochs, study_sha256 (tricksearch-0.json)" in line

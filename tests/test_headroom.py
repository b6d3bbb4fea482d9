"""benchmarks/headroom.py: the ceiling, the headroom and the seeds a lead would need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_benchmark

headroom = load_benchmark("headroom")


def store(folder: Path, name: str, tests: list[float], epochs: int = 1300) -> headroom.Arm:
    """Units ``name-<seed>.json`` with these test accuracies, as the benchmarks store them."""
    for seed, test in enumerate(tests):
        unit = {"seed": seed, "test": test, "epochs": epochs}
        (folder / f"{name}-{seed}.json").write_text(json.dumps(unit))
    return headroom.Arm(name, folder / name)


def test_seeds_for_power_matches_the_textbook_paired_t_sample_size() -> None:
    # Cohen's d = 0.5, two-sided alpha 0.05, power 0.8: a paired t test needs 34 pairs
    # (G*Power's and Cohen's tables); a lead half as large needs about four times as many.
    assert headroom.seeds_for_power(0.2, 0.4, 0.8) == 34
    assert headroom.seeds_for_power(0.1, 0.4, 0.8) == 128


def test_ceiling_reads_fractions_and_percents_alike(tmp_path: Path) -> None:
    arms = (
        store(tmp_path, "search", [0.881, 0.885]),  # search_efficiency stores fractions
        store(tmp_path, "variant", [88.9, 89.1]),  # recipe_variants stores percent
    )
    label, mean, upper = headroom.ceiling(arms)
    assert label == "variant"
    assert mean == pytest.approx(89.0)
    assert upper > mean


def test_row_reports_the_lead_and_no_seeds_where_the_control_is_at_the_ceiling(
    tmp_path: Path,
) -> None:
    shipped = store(tmp_path, "shipped", [0.890, 0.889, 0.893])
    control = store(tmp_path, "control", [0.886, 0.885, 0.887], epochs=360)
    cells = [c.strip() for c in headroom.row(shipped, control, (88.5, 88.9), 0.8, 3.6).split("|")]
    assert cells[1:3] == ["control", "3"]
    assert cells[3].startswith("+0.47 [")
    assert cells[4:6] == ["0.12", "88.60"]
    assert cells[6] == "-0.10 / +0.30"
    seeds = cells[7].split(" / ")
    assert seeds[1] == "none"  # no headroom: no number of seeds can show a lead
    assert int(seeds[0]) < int(seeds[2])  # the lead measured is larger than the 0.30 left
    hours = cells[8].split(" / ")
    assert hours[1] == "-"
    assert float(hours[0]) == pytest.approx(int(seeds[0]) * (1300 + 360) * 3.6 / 3600, abs=0.5)

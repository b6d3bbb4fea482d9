"""benchmarks/unit_snapshot.py: a half-done benchmark's state copied so the run can move."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "unit_snapshot.py"
_spec = importlib.util.spec_from_file_location("unit_snapshot", SCRIPT)
assert _spec is not None and _spec.loader is not None
unit_snapshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(unit_snapshot)


def half_done(src: Path) -> None:
    """A results folder as a benchmark leaves it mid-run: one unit stored, two in progress."""
    src.mkdir()
    (src / "tricksearch-0.json").write_text(json.dumps({"arm": "tricksearch", "seed": 0}))
    study = optuna.create_study(storage=f"sqlite:///{src / 'tricksearch-1.db'}", study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    (src / "tricksearch-1.lock").write_text("")
    (src / "best_recipe-1").mkdir()
    (src / "best_recipe-1" / "trial-0.pt").write_bytes(b"checkpoint at epoch 700")
    (src / "best_recipe-1" / ".trial-0.123.tmp").write_bytes(b"torn")


def test_copy_carries_the_state_a_run_resumes_from(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    half_done(src)
    unit_snapshot.snapshot(src, dst)
    names = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    assert names == ["best_recipe-1/trial-0.pt", "tricksearch-0.json", "tricksearch-1.db"]
    copy = optuna.load_study(storage=f"sqlite:///{dst / 'tricksearch-1.db'}", study_name="s")
    original = optuna.load_study(storage=f"sqlite:///{src / 'tricksearch-1.db'}", study_name="s")
    assert [t.params for t in copy.trials] == [t.params for t in original.trials]
    assert (dst / "best_recipe-1" / "trial-0.pt").read_bytes() == b"checkpoint at epoch 700"


def test_finished_units_leave_no_stale_state_and_results_stay(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    half_done(src)
    unit_snapshot.snapshot(src, dst)
    (dst / "tricksearch-9.json").write_text("{}")  # stored only in the destination
    for path in [src / "tricksearch-1.db", src / "best_recipe-1" / "trial-0.pt"]:
        path.unlink()  # both units finished: the benchmark removes their state
    (src / "tricksearch-1.json").write_text("{}")
    _, stale = unit_snapshot.snapshot(src, dst)
    assert sorted(p.name for p in stale) == ["trial-0.pt", "tricksearch-1.db"]
    assert sorted(p.name for p in dst.iterdir()) == [
        "tricksearch-0.json",
        "tricksearch-1.json",
        "tricksearch-9.json",
    ]


@pytest.mark.parametrize("same", [False, True])
def test_bad_folders_get_one_line_and_status_2(tmp_path: Path, same: bool) -> None:
    src = tmp_path / "src"
    if same:
        half_done(src)
    dst = src if same else tmp_path / "dst"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(src), str(dst)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "dst").exists()

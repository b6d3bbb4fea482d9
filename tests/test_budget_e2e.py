"""`run --budget` end to end: within the budget, the final model written, an interrupted
final training continued to the same metrics."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, run_cli, start_cli

SMALL = [
    "--set", "data.max_per_class=300", "--set", "data.val_per_class=40",
    "--set", "data.test_per_class=20", "--set", "train.epochs=2", "--set", "finetune.epochs=1",
    "--set", "train.batch_size=64", "--device", "cpu", "--no-warm-start", "--quiet",
]  # fmt: skip
ENV = {"TRICKSEARCH_THREADS": "1"}  # the same results from one run to the next


def study_epochs(url: str) -> tuple[int, float]:
    trials = optuna.load_study(study_name="quickstart", storage=url).trials
    curves = [t.user_attrs.get("curve", []) for t in trials if t.state.name != "FAIL"]
    return sum(len(c) for c in curves), sum(r["seconds"] for c in curves for r in c)


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])  # two workers share the search's share
def test_an_epoch_budget_is_kept_and_the_final_model_written(tmp_path: Path, workers) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    proc = run_cli("run", "quickstart", "--storage", url, "--budget", "40ep", "--output",
                   "final", "--workers", workers, *SMALL, cwd=tmp_path, env=ENV)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = tmp_path / "final"
    metrics = json.loads((final / "metrics.json").read_text())
    search, _ = study_epochs(url)
    assert search <= 0.85 * 40
    assert search + len(metrics["history"]) <= 40  # every epoch counted, fine-tunes too
    assert metrics["val"]["balanced_accuracy"] > 0 and metrics["test"]["balanced_accuracy"] > 0
    for name in ("model.pt", "best.toml", "report/report.md"):
        assert (final / name).is_file(), name
    assert "final/model.pt" in proc.stdout  # the last lines name the files
    report = (final / "report" / "report.md").read_text()  # its test table is the final model's
    assert "Held-out test split (the final model: this config stretched to " in report
    assert f"| {metrics['test']['balanced_accuracy'] * 100:.2f}% |" in report


@pytest.mark.slow
def test_a_time_budget_ends_within_one_epoch_of_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    proc = run_cli("run", "quickstart", "--storage", url, "--budget", "20s", "--output",
                   "final", *SMALL, cwd=tmp_path, env=ENV)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    history = json.loads((tmp_path / "final" / "metrics.json").read_text())["history"]
    _, searched = study_epochs(url)
    spent = searched + sum(row["seconds"] for row in history)
    epoch = max(row["seconds"] for row in history)
    assert spent <= 20 + epoch, (searched, spent)


@pytest.mark.slow
def test_an_interrupted_final_training_continues_to_the_same_metrics(tmp_path: Path) -> None:
    args = ["--budget", "80ep", "--output", "final", *SMALL, "--set", "data.max_per_class=600"]
    whole = tmp_path / "whole"
    whole.mkdir()
    proc = run_cli("run", "quickstart", "--storage", "sqlite:///w.db", *args, cwd=whole, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cut = tmp_path / "cut"
    cut.mkdir()
    victim = start_cli("run", "quickstart", "--storage", "sqlite:///c.db", *args, cwd=cut, env=ENV)
    checkpoint = cut / "final" / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=120)
    assert victim.returncode == 130, err[-3000:]
    assert "continues from its checkpoint" in err and checkpoint.exists()
    again = run_cli("run", "quickstart", "--storage", "sqlite:///c.db", *args, cwd=cut, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not checkpoint.exists()
    a = json.loads((whole / "final" / "metrics.json").read_text())
    b = json.loads((cut / "final" / "metrics.json").read_text())
    assert (b["value"], b["test"]) == (a["value"], a["test"])
    # Once more after it has finished: nothing is trained again, the same model is named.
    model = (cut / "final" / "model.pt").stat().st_mtime_ns
    third = run_cli("run", "quickstart", "--storage", "sqlite:///c.db", *args, cwd=cut, env=ENV)
    assert third.returncode == 0 and "already trained" in third.stderr, third.stderr[-3000:]
    assert (cut / "final" / "model.pt").stat().st_mtime_ns == model
    assert f"test {b['test']['balanced_accuracy']:.4f}" in third.stdout
    # Another budget interrupted in the same folder leaves another config's checkpoint:
    # going back to 80 epochs trains from the start, not from those weights.
    shorter = [*args[:1], "75ep", *args[2:]]  # the search is spent: only the final differs
    victim = start_cli("run", "quickstart", "--storage", "sqlite:///c.db", *shorter, cwd=cut,
                       env=ENV)  # fmt: skip
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
    victim.send_signal(signal.SIGINT)
    assert victim.wait(timeout=120) == 130 and checkpoint.exists()
    back = run_cli("run", "quickstart", "--storage", "sqlite:///c.db", *args, cwd=cut, env=ENV)
    assert back.returncode == 0 and "retraining" in back.stderr, back.stderr[-3000:]
    c = json.loads((cut / "final" / "metrics.json").read_text())
    assert (c["value"], c["test"]) == (a["value"], a["test"])


@pytest.mark.slow
def test_a_fit_function_study_takes_a_budget(tmp_path: Path) -> None:
    study = ROOT / "examples" / "own_loop" / "study.toml"
    url = f"sqlite:///{tmp_path / 'o.db'}"
    small = ["--set", "data.max_per_class=300", "--set", "data.val_per_class=40",
             "--set", "train.epochs=2", "--set", "finetune.epochs=1",
             "--set", "train.steps_per_epoch=6", "--device", "cpu", "--no-warm-start",
             "--quiet"]  # fmt: skip
    proc = run_cli("run", str(study), "--storage", url, "--budget", "30ep", "--output", "final",
                   *small, cwd=tmp_path, env=ENV)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "final" / "metrics.json").read_text())
    trials = optuna.load_study(study_name="own_loop", storage=url).trials
    search = sum(len(t.user_attrs.get("curve", [])) for t in trials if t.state.name != "FAIL")
    assert search <= 0.85 * 30 and search + len(metrics["history"]) <= 30
    assert metrics["test"]["balanced_accuracy"] > 0  # the loop hands its test metrics over
    assert (tmp_path / "final" / "model.pt").is_file()

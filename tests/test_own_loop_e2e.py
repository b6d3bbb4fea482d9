"""examples/own_loop end to end: a user's loop under `run --workers 2`, a kill, export, train,
ablate, report, and the same loop under a hand-written Optuna objective."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import ROOT, TINY_STUDY, run_cli, start_cli

OWN_LOOP = ROOT / "examples" / "own_loop"
SMALL = [
    "--set", "data.max_per_class=300", "--set", "data.imbalance_ratio=10.0",
    "--set", "data.val_per_class=40", "--set", "data.test_per_class=20",
    "--set", "train.epochs=3", "--set", "finetune.epochs=1", "--set", "train.batch_size=64",
    "--set", "train.steps_per_epoch=10",
]  # fmt: skip


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A copy of the example outside the repository (loop.py found next to the study file)."""
    folder = tmp_path_factory.mktemp("own_loop") / "own_loop"
    shutil.copytree(OWN_LOOP, folder, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    return folder


@pytest.mark.slow
def test_workers_export_train_ablate_report_on_the_users_loop(work: Path) -> None:
    url = f"sqlite:///{work / 'loop.db'}"
    proc = run_cli("run", "study.toml", "--storage", url, "--n-trials", "4", "--workers", "2",
                   "--quiet", "--no-warm-start", *SMALL, cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="own_loop", storage=url)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 4
    # export/train elsewhere need the module on the path; one thread, as each worker had
    env = {"PYTHONPATH": str(work), "TRICKSEARCH_THREADS": "1"}
    assert run_cli("export", "--storage", url, "--study", "own_loop", "--output", "best.toml",
                   cwd=work, env=env).returncode == 0  # fmt: skip
    assert 'fit = "loop:fit"' in (work / "best.toml").read_text()
    trained = run_cli("train", "best.toml", "--output", "run", cwd=work, env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    assert metrics["value"] == study.best_value  # the user's loop, reproduced on the CPU
    assert metrics["test"]["balanced_accuracy"] > 0 and (work / "run" / "model.pt").is_file()
    ablate = run_cli("ablate", "--storage", url, "--study", "own_loop", "--seeds", "2",
                     "--output", "ablation", cwd=work, env=env)  # fmt: skip
    assert ablate.returncode == 0, ablate.stderr[-3000:]
    rows = json.loads((work / "ablation" / "ablation.json").read_text())["rows"]
    assert "no-aug fine-tune" in [r["trick"] for r in rows]
    report = run_cli("report", "--storage", url, "--study", "own_loop", "--output", "report",
                     cwd=work, env=env)  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Held-out test split" in (work / "report" / "report.md").read_text()


def _last_epoch(checkpoint: Path) -> int:
    """The last epoch a running trial's checkpoint holds; -1 before its first (the file is
    replaced by a rename, so a read never sees half of one)."""
    import torch

    if not checkpoint.is_file():
        return -1
    try:
        return int(torch.load(checkpoint, weights_only=True)["session"]["last_epoch"])
    except FileNotFoundError:  # removed between the check and the read
        return -1


@pytest.mark.slow
def test_a_killed_loop_trial_continues_from_its_checkpoint(work: Path) -> None:
    url = f"sqlite:///{work / 'kill.db'}"
    args = ("run", "study.toml", "--storage", url, "--study-name", "kill", "--n-trials", "1",
            "--heartbeat", "1", "--quiet", "--checkpoint-every", "0", "--no-warm-start", *SMALL,
            "--set", "train.epochs=8", "--set", "pruner.name='NopPruner'",
            "--set", "pruner.kwargs={}")  # fmt: skip
    env = {"TRICKSEARCH_THREADS": "1"}
    victim = start_cli(*args, cwd=work, env=env)
    checkpoint = work / "kill_checkpoints" / "kill" / "trial-0.pt"
    deadline = time.monotonic() + 120
    while _last_epoch(checkpoint) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)  # mid-training: epoch 2 or 3 of 8
    assert victim.wait(timeout=60) == -signal.SIGKILL
    time.sleep(3.5)  # three missed heartbeats: the trial is stale
    proc = run_cli(*args, cwd=work, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    killed, retry = optuna.load_study(study_name="kill", storage=url).trials
    assert killed.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert retry.user_attrs["resumed_after_epoch"] >= 2
    # The same trial without interruption, in a fresh study: the same value on the CPU.
    fresh = f"sqlite:///{work / 'fresh.db'}"
    whole = list(args)
    whole[whole.index(url)] = fresh
    assert run_cli(*whole, cwd=work, env=env).returncode == 0
    assert retry.value == optuna.load_study(study_name="kill", storage=fresh).trials[0].value


@pytest.mark.slow
def test_the_hand_written_objective_runs_and_report_shows_restarts_and_finetune(
    tmp_path: Path,
) -> None:
    work = tmp_path / "objective"
    shutil.copytree(OWN_LOOP, work, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    text = (work / "study.toml").read_text()
    text = text.replace("max_per_class = 1500", "max_per_class = 300")
    text = text.replace("steps_per_epoch = 30", "steps_per_epoch = 10")
    text = text.replace("epochs = 5", "epochs = 3")
    text = text.replace("max_restarts = [0, 2]", "max_restarts = [1, 2]")
    (work / "study.toml").write_text(text + "\n[restart]\npatience = 1\n")
    proc = subprocess.run([sys.executable, "objective.py"], cwd=work, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    url = f"sqlite:///{work / 'objective.db'}"
    study = optuna.load_study(study_name="own_objective", storage=url)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    recipes = [t for t in study.trials if t.user_attrs.get("recipe")]
    assert len(recipes) == 3  # the recipes this space expresses, first, run to the end
    assert all(t.state == TrialState.COMPLETE for t in recipes)
    assert all("pre_finetune_value" in t.user_attrs for t in complete)
    assert any(t.user_attrs["restarts"] for t in study.trials)
    report = run_cli("report", "--storage", url, "--study", "own_objective", "--no-test",
                     "--output", "report", cwd=work, env={"PYTHONPATH": str(work)})  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    text = (work / "report" / "report.md").read_text()
    assert "fine-tune" in text and "restart" in text


@pytest.mark.slow
def test_the_quickstart_as_shipped_completes_every_warm_start_recipe(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    args = [a for a in TINY_STUDY if a != "--no-warm-start"]
    proc = run_cli("run", "quickstart", "--storage", url, "--n-trials", "6", "--quiet",
                   "--set", "pruner.kwargs.n_startup_trials=1",
                   "--set", "pruner.kwargs.n_warmup_steps=0", *args, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = optuna.load_study(study_name="quickstart", storage=url).trials
    recipes = [t for t in trials if t.user_attrs.get("recipe")]
    assert len(recipes) == 5
    assert all(t.state == TrialState.COMPLETE for t in recipes), [
        (t.user_attrs["recipe"]["name"], t.state.name) for t in recipes
    ]

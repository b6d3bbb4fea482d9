"""The real CLI in a subprocess on a real SQLite storage: run, resume, export, train."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, TINY_STUDY, run_cli

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")


def storage_of(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("study")
    url = storage_of(tmp)
    proc = run_cli("run", QUICKSTART, "--storage", url, "--n-trials", "3", *TINY_STUDY, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "best trial" in proc.stdout and "tricksearch export" in proc.stdout
    assert "tricksearch train best.toml   # or --epochs N" in proc.stdout
    assert "trial   0 epoch   0 [train]" in proc.stderr
    # stderr is a pipe here, as in a batch job's log: plain lines, no redrawn progress bar.
    assert not [line for line in proc.stderr.splitlines() if line.startswith("trials:")]
    return tmp, url


def test_run_stores_the_trials_and_set_overrides_apply(finished) -> None:
    _, url = finished
    study = optuna.load_study(study_name="quickstart", storage=url)
    assert len(study.trials) == 3
    assert study.metric_names == ["balanced_accuracy"]
    for trial in study.trials:
        config = trial.user_attrs["trick_config"]
        assert config["train"]["epochs"] == 2 and config["data"]["max_per_class"] == 150
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert "pre_finetune_value" in trial.user_attrs
            # 2 training epochs + 1 fine-tune epoch, each reported once.
            assert sorted(trial.intermediate_values) == [0, 1, 2]


def test_resume_reaches_the_requested_total(finished) -> None:
    tmp, url = finished
    proc = run_cli(
        "run", QUICKSTART, "--storage", url, "--n-trials", "4", "--quiet", *TINY_STUDY, cwd=tmp
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    study = optuna.load_study(study_name="quickstart", storage=url)
    assert len(study.trials) == 4
    # Asking again for 4 adds nothing.
    proc = run_cli(
        "run", QUICKSTART, "--storage", url, "--n-trials", "4", "--quiet", *TINY_STUDY, cwd=tmp
    )
    assert proc.returncode == 0
    assert len(optuna.load_study(study_name="quickstart", storage=url).trials) == 4


def test_studies_lists_counts(finished) -> None:
    tmp, url = finished
    proc = run_cli("studies", "--storage", url, "--json", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["name"] == "quickstart" and row["trials"] >= 3
    assert row["complete"] + row["pruned"] + row["fail"] == row["trials"]


def test_export_then_train_reproduces_the_trial(finished, tmp_path: Path) -> None:
    tmp, url = finished
    out = tmp_path / "best.toml"
    proc = run_cli(
        "export", "--storage", url, "--study", "quickstart", "--output", str(out), cwd=tmp
    )
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="quickstart", storage=url)
    best = study.best_trial
    text = out.read_text()
    assert f"trial = {best.number}" in text and "[provenance.versions]" in text
    # TINY_STUDY's trials train 2 epochs; the hint says so and how to train longer.
    assert f"next: tricksearch train {out}  (its trial trained 2 epochs; add --epochs N" in (
        proc.stdout
    )
    proc = run_cli("train", str(out), "--device", "cpu", "--output", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert abs(metrics["value"] - best.value) <= 0.01
    assert [r["epoch"] for r in metrics["restarts"]] == [
        r["epoch"] for r in best.user_attrs["restarts"]
    ]
    proc = run_cli(
        "export",
        "--storage",
        url,
        "--study",
        "quickstart",
        "--top",
        "2",
        "--format",
        "json",
        "--output",
        str(tmp_path / "top.json"),
        cwd=tmp,
    )
    assert proc.returncode == 0
    assert len(json.loads((tmp_path / "top.json").read_text())) == min(
        2, len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    )


def test_standard_optuna_tools_read_the_study(finished) -> None:
    import subprocess
    import sys

    _, url = finished
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "optuna"),
            "best-trial",
            "--storage",
            url,
            "--study-name",
            "quickstart",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    best = optuna.load_study(study_name="quickstart", storage=url).best_trial
    assert json.loads(proc.stdout)["number"] == best.number


def test_existing_study_survives_a_bad_run(finished) -> None:
    tmp, url = finished
    db = url.split(":///", 1)[1]
    before = sqlite3.connect(db).execute("select count(*) from trials").fetchone()
    proc = run_cli("run", QUICKSTART, "--storage", url, "--set", "loss.focal_gamma=-1", cwd=tmp)
    assert proc.returncode == 2
    assert sqlite3.connect(db).execute("select count(*) from trials").fetchone() == before


def test_help_and_version_import_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom search.cli import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0\n"
        "print('torch imported:', 'torch' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert "usage: tricksearch" in proc.stdout and "tricksearch 0." in proc.stdout
    assert proc.stdout.strip().endswith("torch imported: False")

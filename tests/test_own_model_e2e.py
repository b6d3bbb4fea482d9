"""A user's own model and data, end to end through the real CLI.

The package of ``examples/own_model_data`` (an MLP on Fashion-MNIST as float feature
vectors) is copied into a folder outside the repository and put on ``PYTHONPATH``, as a
user's package would be; workers, ``export`` -> ``train``, ``ablate`` and ``report`` rebuild
its model and data from the stored config.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, run_cli

EXAMPLE = ROOT / "examples" / "own_model_data"
SMALL = [
    "--set", "data.kwargs.head=300",
    "--set", "data.kwargs.ratio=10.0",
    "--set", "data.kwargs.val_per_class=30",
    "--set", "data.kwargs.test_per_class=30",
    "--set", "train.epochs=3",
    "--set", "finetune.epochs=1",
    "--set", "data.loader_workers=0",
]  # fmt: skip
USER_CODE = "model.factory = fmnist_features:mlp; data.factory = fmnist_features:features"


@pytest.fixture(scope="module")
def own_study(tmp_path_factory) -> tuple[Path, str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("own")
    outside = tmp / "user_code"
    shutil.copytree(EXAMPLE / "fmnist_features", outside / "fmnist_features")
    work = tmp / "work"
    work.mkdir()
    shutil.copy(EXAMPLE / "study.toml", work / "study.toml")
    env = {"PYTHONPATH": str(outside)}
    url = f"sqlite:///{work / 'own.db'}"
    proc = run_cli(
        "run", "study.toml", "--storage", url, "--n-trials", "4", "--workers", "2",
        "--quiet", *SMALL, cwd=work, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "started 2 workers" in proc.stderr
    return work, url, env


@pytest.mark.slow
def test_two_workers_finish_the_study_on_the_users_model_and_data(own_study) -> None:
    _, url, _ = own_study
    trials = optuna.load_study(study_name="own_model_data", storage=url).get_trials()
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    workers = {t.user_attrs.get("worker", "").split(":")[-1] for t in trials}
    assert len(workers) == 2  # both processes took trials


@pytest.mark.slow
def test_export_then_train_reproduces_the_trials_value_exactly(own_study) -> None:
    work, url, env = own_study
    exported = run_cli(
        "export", "--storage", url, "--study", "own_model_data", "--output", "best.toml",
        cwd=work, env=env,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    best = (work / "best.toml").read_text()
    assert 'model_factory = "fmnist_features:mlp"' in best
    assert 'data_factory = "fmnist_features:features"' in best
    trained = run_cli("train", "best.toml", "--output", "run", cwd=work, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    metrics = json.loads((work / "run" / "metrics.json").read_text())
    study = optuna.load_study(study_name="own_model_data", storage=url)
    assert metrics["value"] == study.best_value  # bit for bit, on the CPU
    assert metrics["test"]["balanced_accuracy"] > 0.5


@pytest.mark.slow
def test_ablate_and_report_rebuild_the_users_code_and_say_so(own_study) -> None:
    work, url, env = own_study
    ablate = run_cli(
        "ablate", "--storage", url, "--study", "own_model_data", "--seeds", "2",
        "--output", "ablation", cwd=work, env=env,
    )  # fmt: skip
    assert ablate.returncode == 0, ablate.stderr[-3000:]
    assert f"importing user code named in the study: {USER_CODE}" in ablate.stderr
    rows = json.loads((work / "ablation" / "ablation.json").read_text())["rows"]
    assert "no-aug fine-tune" in [row["trick"] for row in rows]  # every trial fine-tunes
    assert all(row["seeds"] == 2 for row in rows)
    report = run_cli(
        "report", "--storage", url, "--study", "own_model_data", "--output", "report",
        cwd=work, env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert f"importing user code named in the study: {USER_CODE}" in report.stdout
    text = (work / "report" / "report.md").read_text()
    assert "Held-out test split" in text

"""Learning curves drawn off the training path: the painter process and its fallback."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import get_all_artifact_meta

from search.dashboard import TrialRecorder
from search.objective import TrialOutcome
from search.painter import Painter, PaintJob, serve
from tests.conftest import ROOT, TINY_STUDY, tiny_config

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")
PNG = b"\x89PNG"
CURVE = [
    {"epoch": 0, "phase": "train", "value": 0.4, "lr": 0.1, "loss": 2.0, "seconds": 1.0},
    {"epoch": 1, "phase": "train", "value": 0.5, "lr": 0.05, "loss": 1.5, "seconds": 1.0},
    {"epoch": 2, "phase": "finetune", "value": 0.55, "lr": 0.005, "loss": 1.2, "seconds": 1.0},
]


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def job(folder: Path, artifact_id: str) -> PaintJob:
    return PaintJob(str(folder), artifact_id, CURVE, [], "balanced_accuracy")


def test_the_painter_runs_at_the_lowest_priority_and_close_waits_for_its_queue(
    tmp_path: Path,
) -> None:
    painter = Painter()
    for i in range(3):
        assert painter.submit(job(tmp_path, f"curve-{i}"))
    assert painter.pid is not None
    pid = painter.pid
    assert wait_for(lambda: os.getpriority(os.PRIO_PROCESS, pid) == 19)  # the idle CPU only
    painter.close()
    for i in range(3):
        assert (tmp_path / f"curve-{i}").read_bytes().startswith(PNG)


def test_a_dead_painter_refuses_jobs_and_the_recorder_draws_them_itself(tmp_path: Path) -> None:
    painter = Painter()
    assert painter.submit(job(tmp_path, "first"))
    assert painter.pid is not None
    os.kill(painter.pid, 9)
    time.sleep(0.2)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    store = tmp_path / "artifacts"
    store.mkdir()
    recorder = TrialRecorder(str(store), "balanced_accuracy", painter)
    recorder(trial, TrialOutcome(tiny_config(), CURVE, [], pruned_reason="test"))
    metas = {m.filename: m for m in get_all_artifact_meta(trial)}
    # Drawn here, at once: the file is a picture before anything is closed.
    assert (store / metas["learning_curve.png"].artifact_id).read_bytes().startswith(PNG)
    assert not painter.submit(job(tmp_path, "second"))
    painter.close()


def test_a_bad_job_is_one_line_on_stderr_and_the_next_is_still_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.dumps(job(tmp_path, "good").__dict__)
    assert serve(io.StringIO("{not json\n" + good + "\n")) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tricksearch painter: JSONDecodeError")
    assert (tmp_path / "good").read_bytes().startswith(PNG)


def test_a_run_draws_no_picture_itself_and_returns_with_every_curve_drawn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    argv = ["run", QUICKSTART, "--storage", url, "--n-trials", "3", "--quiet", *TINY_STUDY]
    script = (
        "import sys; from search.cli import main; "
        f"code = main({argv!r}); "
        "print('matplotlib' in sys.modules); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "False"  # matplotlib never imported
    storage = optuna.storages.RDBStorage(url)
    study = optuna.load_study(study_name="quickstart", storage=storage)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 3
    for trial in finished:
        metas = get_all_artifact_meta(trial, storage=storage)
        (curve,) = [m for m in metas if m.filename == "learning_curve.png"]
        assert (tmp_path / "p_artifacts" / curve.artifact_id).read_bytes().startswith(PNG)

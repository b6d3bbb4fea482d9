"""The cluster templates, run here as far as this machine allows."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import POSTGRES, REQUIRE, ROOT, TINY_STUDY

SLURM = ROOT / "examples" / "cluster" / "slurm.sbatch"


@pytest.mark.slow
@pytest.mark.postgres
def test_the_slurm_array_body_finishes_a_study_at_exactly_n_trials(tmp_path: Path) -> None:
    if not POSTGRES:
        if REQUIRE:
            pytest.fail("TRICKSEARCH_TEST_POSTGRES_URL is not set but services are required")
        pytest.skip("no PostgreSQL server (set TRICKSEARCH_TEST_POSTGRES_URL; .ci/run does)")
    name = f"slurm-{uuid.uuid4().hex[:8]}"
    tiny = " ".join(a for a in TINY_STUDY if a not in ("--device", "cpu"))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TRICKSEARCH_STORAGE": POSTGRES,
        "TRICKSEARCH_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "TRICKSEARCH_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "STUDY": "quickstart",
        "N_TRIALS": "6",
        "DEVICE": "cpu",
        "TRICKSEARCH_THREADS": "1",
        "EXTRA_ARGS": f"--study-name {name} {tiny}",
        "SLURM_ARRAY_JOB_ID": "4242",
        "SLURM_ARRAY_TASK_COUNT": "3",
    }
    procs = [
        subprocess.Popen(
            ["bash", str(SLURM)],
            cwd=tmp_path,
            text=True,
            env={**env, "SLURM_ARRAY_TASK_ID": str(i)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1][-2000:] for o in outs]
    assert all("array task" in err and "4242" in err for _, err in outs)
    trials = optuna.load_study(study_name=name, storage=POSTGRES).trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6 and len(trials) == 6  # exactly n_trials, nothing left RUNNING
    assert len({t.user_attrs["worker"] for t in trials}) >= 2  # the tasks shared the study


def _postgres_version() -> str | None:
    folder = Path("/etc/postgresql")
    versions = sorted((p.name for p in folder.iterdir()), key=float) if folder.is_dir() else []
    return versions[-1] if versions else None


@pytest.mark.slow
@pytest.mark.postgres
def test_a_postgresql_restart_mid_study_is_survived(tmp_path: Path) -> None:
    import shutil
    import time

    from tests.conftest import start_cli

    version = _postgres_version()
    if not POSTGRES or version is None or shutil.which("pg_ctlcluster") is None:
        if REQUIRE:
            pytest.fail("PostgreSQL (and pg_ctlcluster) are required here")
        pytest.skip("no local PostgreSQL cluster to restart")
    name = f"restart-{uuid.uuid4().hex[:8]}"
    worker = start_cli(
        "run", "quickstart", "--storage", POSTGRES, "--study-name", name, "--n-trials", "8",
        "--workers", "2", "--quiet", "--no-dashboard", "--checkpoint-dir", str(tmp_path / "ck"),
        *TINY_STUDY, "--set", "train.epochs=6", "--heartbeat", "2", cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until trials are running and reporting
        try:
            trials = optuna.load_study(study_name=name, storage=POSTGRES).trials
        except Exception:
            trials = []
        running = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
        if len(trials) >= 3 and running:
            break
        time.sleep(0.2)
    restart = subprocess.run(["pg_ctlcluster", version, "main", "restart"], capture_output=True)
    assert restart.returncode == 0, restart.stderr
    _, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    trials = optuna.load_study(study_name=name, storage=POSTGRES).trials
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    states = [(t.number, t.state.name, t.system_attrs.get("failed_trial"),
               t.user_attrs.get("fail_reason")) for t in trials]  # fmt: skip
    assert len(finished) == 8, (states, err[-3000:])
    assert not [t for t in trials if t.state == TrialState.RUNNING], states
    for t in trials:
        if t.state == TrialState.COMPLETE:  # the value is the last report (after the fine-tune)
            assert t.value == t.intermediate_values[max(t.intermediate_values)]

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

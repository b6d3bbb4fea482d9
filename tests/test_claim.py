"""Claiming trials: the per-study lock (a second process waits), and signals around a claim."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import optuna
from filelock import FileLock, Timeout

from search.claim import CLAIM_SUFFIX, claim_lock
from search.storage import open_storage
from tests.conftest import ROOT

HOLDER = """
import sys, time
from pathlib import Path
from search.claim import claim_lock
url, marks = sys.argv[1], Path(sys.argv[2])
with claim_lock(url, "s"):
    (marks / "held").touch()
    time.sleep(1.0)
    (marks / "released").touch()
"""


def test_a_second_process_waits_for_the_lock(storage_url: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, storage_url, str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    while not (tmp_path / "held").exists():
        assert holder.poll() is None, "the holder died before taking the lock"
        time.sleep(0.02)
    with claim_lock(storage_url, "s"):
        released_before_we_got_it = (tmp_path / "released").exists()
    assert holder.wait(timeout=60) == 0
    assert released_before_we_got_it


def test_a_journal_storage_writes_inside_the_claim_and_the_claim_still_excludes(
    tmp_path: Path,
) -> None:
    # Before the fix both locks were "<file>.lock": Optuna's journal lock waited 30 s for
    # the claim, then renamed the claim's file away, and a second claimant got in.
    url = f"journal:///{tmp_path / 'study.log'}"
    with claim_lock(url, "s"):
        study = optuna.create_study(storage=open_storage(url), study_name="s")
        study.enqueue_trial({"x": 1.0})
        rival = FileLock(tmp_path / f"study.log{CLAIM_SUFFIX}")
        try:
            rival.acquire(timeout=0)
            got_in = True
            rival.release()
        except Timeout:
            got_in = False
    assert not got_in
    assert len(optuna.load_study(storage=open_storage(url), study_name="s").trials) == 1


def test_a_signal_between_trials_waits_for_a_safe_point_and_one_after_a_claim_fails_it() -> None:
    import signal as signals

    import pytest

    from search.runner import Interrupted, _interruptible, _Interrupts

    interrupts = _Interrupts()
    interrupts.handle(signals.SIGINT, None)  # between trials: remembered, not raised
    assert interrupts.pending == "SIGINT"
    calls: list[object] = []
    with pytest.raises(Interrupted, match="SIGINT"):  # the claimed trial is failed, not run
        _interruptible(calls.append, object(), interrupts)  # type: ignore[arg-type]
    assert calls == [] and not interrupts.in_trial

    inside = _Interrupts()

    def objective(trial: object) -> float:
        inside.handle(signals.SIGTERM, None)  # during the trial: raised at once
        return 1.0

    with pytest.raises(Interrupted, match="SIGTERM"):
        _interruptible(objective, object(), inside)  # type: ignore[arg-type]
    assert not inside.in_trial

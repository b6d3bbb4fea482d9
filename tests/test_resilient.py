"""Storage calls that lose their connection are retried; other errors are not."""

from __future__ import annotations

import pytest
from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import IntegrityError, OperationalError

from search.resilient import ResilientRDBStorage, is_connection_error, retrying


def _lost() -> Exception:
    cause = OperationalError("UPDATE trials", {}, Exception("server closed the connection"))
    try:
        raise StorageInternalError("An exception is raised during the commit.") from cause
    except StorageInternalError as exc:
        return exc


def test_a_lost_connection_is_retried_until_it_comes_back(monkeypatch) -> None:
    monkeypatch.setattr("search.resilient.time.sleep", lambda s: None)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _lost()
        return "written"

    assert retrying(flaky)() == "written" and len(calls) == 3


def test_other_errors_are_raised_at_once() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        retrying(broken)()
    assert len(calls) == 1
    assert is_connection_error(_lost()) and not is_connection_error(ValueError("x"))


def test_patience_runs_out(monkeypatch) -> None:
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr("search.resilient.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("search.resilient.time.sleep", lambda s: None)
    with pytest.raises(StorageInternalError):
        retrying(lambda: (_ for _ in ()).throw(_lost()), patience=30)()


def test_every_database_call_of_the_storage_is_wrapped() -> None:
    """Including the private ones Optuna's cache layer calls on its backend: a study's
    ``get_trials`` reads through ``_get_trials``, and an unwrapped one killed a worker
    when PostgreSQL restarted."""
    import inspect
    import re

    from optuna.storages import _cached_storage

    called = set(re.findall(r"self\._backend\.(\w+)\(", inspect.getsource(_cached_storage)))
    no_database = {"get_heartbeat_interval", "get_heartbeat_stale_trial_callback"}
    assert {"_get_trials", "set_trial_state_values", "record_heartbeat"} <= called
    for name in sorted(called - no_database):
        assert hasattr(getattr(ResilientRDBStorage, name), "__wrapped__"), name


@pytest.mark.slow
def test_a_trial_left_running_before_its_first_beat_is_failed_and_retried(tmp_path) -> None:
    """A claim whose reply was lost left the trial the database had made RUNNING, with no
    heartbeat: Optuna's stale check never sees it, and it counted toward the total."""
    import time

    import optuna
    from optuna.trial import TrialState

    from tests.conftest import TINY_STUDY, run_cli

    url = f"sqlite:///{tmp_path / 'o.db'}"
    args = ["run", "quickstart", "--storage", url, "--heartbeat", "1", "--quiet",
            "--no-dashboard", "--no-warm-start", *TINY_STUDY]  # fmt: skip
    assert run_cli(*args, "--n-trials", "1", cwd=tmp_path).returncode == 0
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1)
    orphan = optuna.load_study(study_name="quickstart", storage=storage).ask()  # never beats
    time.sleep(3.5)  # past the grace period of 3 beats
    proc = run_cli(*args, "--n-trials", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    trials = optuna.load_study(study_name="quickstart", storage=url).trials
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 3, states
    assert TrialState.RUNNING not in states
    left = trials[orphan.number]
    assert left.state == TrialState.FAIL and "never started" in left.user_attrs["fail_reason"]

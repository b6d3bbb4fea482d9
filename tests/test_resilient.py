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
    for name in ("set_trial_user_attr", "set_trial_state_values", "record_heartbeat", "get_trial"):
        assert getattr(ResilientRDBStorage, name).__wrapped__ is not None

"""The SQLite storage as opened for a study: write-ahead log, no fsync per commit, commits kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna
import sqlalchemy

from search.storage import open_storage


def test_every_sqlite_connection_logs_ahead_and_skips_the_fsync_per_commit(
    tmp_path: Path,
) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat=False)
    with storage.engine.connect() as first, storage.engine.connect() as second:
        for conn in (first, second):
            assert conn.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(sqlalchemy.text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_a_commit_is_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    study = optuna.create_study(
        study_name="s", storage=open_storage(f"sqlite:///{path}", heartbeat=False)
    )
    trial = study.ask()
    trial.set_user_attr("k", 1)
    study.tell(trial, 0.5)
    with sqlite3.connect(path) as conn:  # no fsync, yet the commit is in the log for readers
        (value,) = conn.execute("SELECT value FROM trial_values").fetchone()
    assert value == 0.5

"""Study storages: URL checks, password redaction, heartbeats, the artifact store beside them."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import optuna

from search.errors import UsageError

__all__ = ["artifact_dir", "open_storage", "redact"]

_SCHEMES = ("sqlite", "postgresql", "mysql")


def redact(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``; for messages and logs."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _check(url: str) -> str:
    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    if scheme not in (*_SCHEMES, "journal"):
        raise UsageError(
            f"storage URL {redact(url)!r} is not understood; use sqlite:///FILE, "
            "postgresql://USER:PASS@HOST/DB, mysql://... or journal:///FILE"
        )
    return scheme


def open_storage(
    url: str, heartbeat: bool = True, heartbeat_interval: int = 10, must_exist: bool = False
) -> Any:
    """Open ``url`` as an Optuna storage.

    ``sqlite:``, ``postgresql:`` and ``mysql:`` become an ``RDBStorage`` with
    heartbeats: a trial whose worker died is marked failed after three missed
    beats and retried once. SQLite files are switched to write-ahead logging and
    wait up to 60 s for a lock, so several local workers can share one.
    ``journal:///path`` is Optuna's journal file storage (no heartbeats).

    Args:
        url: The storage URL.
        heartbeat: Enable heartbeats (for workers; readers leave it off).
        heartbeat_interval: Seconds between beats; a trial is stale after three.
        must_exist: For readers: a missing SQLite or journal file is an error
            instead of a new empty storage.

    Raises:
        UsageError: A malformed or unreachable URL (the password is never shown).
    """
    scheme = _check(url)
    if must_exist and scheme in ("sqlite", "journal"):
        file = Path(url.split(":///", 1)[1]) if ":///" in url else None
        if file is None or not file.is_file():
            raise UsageError(
                f"no storage at {url}: the file does not exist (run 'tricksearch run')"
            )
    if scheme == "journal":
        log = url.split(":///", 1)[1] if ":///" in url else ""
        if not log:
            raise UsageError("journal storage needs a file: journal:///study.log")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(log))
    kwargs: dict[str, Any] = {}
    if scheme == "sqlite":
        db = url.split(":///", 1)[1] if ":///" in url else ""
        if not db or db == ":memory:":
            raise UsageError(f"sqlite storage needs a file: sqlite:///study.db, got {url!r}")
        parent = Path(db).parent
        if not parent.is_dir():
            raise UsageError(f"storage {url!r}: directory {parent} does not exist")
        _enable_wal(Path(db))
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    if heartbeat:
        kwargs["heartbeat_interval"] = heartbeat_interval
        kwargs["grace_period"] = 3 * heartbeat_interval
        kwargs["heartbeat_stale_trial_callback"] = optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=1
        )
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or a dead server
        message = redact(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise UsageError(f"cannot open storage {redact(url)}: {message}") from None


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers and one writer work at once; it persists in the file."""
    try:
        with sqlite3.connect(path, timeout=60) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"storage sqlite:///{path}: not a usable SQLite database ({exc})"
        ) from None


def artifact_dir(url: str) -> Path:
    """The file-system artifact store beside a file storage, or ``./tricksearch_artifacts``."""
    if url.startswith("sqlite:///") or url.startswith("journal:///"):
        path = Path(url.split(":///", 1)[1])
        return path.parent / f"{path.stem}_artifacts"
    return Path("tricksearch_artifacts")

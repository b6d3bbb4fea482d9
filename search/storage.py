"""Study storages: URL checks, password redaction, heartbeats, the artifact store beside them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from search.errors import UsageError
from search.resilient import ResilientRDBStorage

__all__ = [
    "StorageURL",
    "artifact_dir",
    "as_url",
    "open_storage",
    "parse_url",
    "redact",
    "retry_callback",
]

_SCHEMES = ("sqlite", "postgresql", "mysql", "journal")


@dataclass(frozen=True)
class StorageURL:
    """A storage URL parsed once by SQLAlchemy's ``make_url``; every module reads this."""

    text: str
    backend: str  # sqlite, postgresql, mysql or journal (the dialect, without a driver)
    file: Path | None  # the database or journal file of a file storage
    password: str | None

    def redacted(self) -> str:
        """The URL with its password as ``***``, for messages and logs."""
        return make_url(self.text).render_as_string(hide_password=True)

    def scrub(self, message: str) -> str:
        """``message`` with this URL's password replaced by ``***``."""
        return message.replace(self.password, "***") if self.password else message


def as_url(url: str | StorageURL) -> StorageURL:
    """``url`` parsed: a :class:`StorageURL` as it is, a string through :func:`parse_url`."""
    return url if isinstance(url, StorageURL) else parse_url(url)


def parse_url(url: str) -> StorageURL:
    """Parse a storage URL (``sqlite:///f.db``, ``sqlite+pysqlite:///f.db``, ``postgresql://...``,
    ``mysql+pymysql://...``, ``journal:///f.log``).

    Raises:
        UsageError: Not a URL, or a backend Optuna cannot store studies in.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UsageError(
            f"storage URL {url.split('://', 1)[0]}://... is not understood; use sqlite:///FILE, "
            "postgresql://USER:PASS@HOST/DB, mysql://... or journal:///FILE"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in _SCHEMES:
        raise UsageError(
            f"storage URL {parsed.render_as_string(hide_password=True)!r} is not understood; "
            "use sqlite:///FILE, postgresql://USER:PASS@HOST/DB, mysql://... or journal:///FILE"
        )
    file = Path(parsed.database) if backend in ("sqlite", "journal") and parsed.database else None
    password = parsed.password if isinstance(parsed.password, str) else None
    return StorageURL(url, backend, file, password)


def redact(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``; for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return f"{url.split('://', 1)[0]}://..."


def open_storage(
    url: str | StorageURL,
    heartbeat: bool = True,
    heartbeat_interval: int = 10,
    must_exist: bool = False,
) -> Any:
    """Open ``url`` as an Optuna storage.

    ``sqlite:``, ``postgresql:`` and ``mysql:`` become an ``RDBStorage`` with
    heartbeats: a trial whose worker died is marked failed after three missed
    beats and retried once. SQLite files use write-ahead logging and wait up to 60 s
    for a lock, so local workers share one. ``journal:///path``: no heartbeats.

    Args:
        url: The storage URL, as text or parsed.
        heartbeat: Enable heartbeats (for workers; readers leave it off).
        heartbeat_interval: Seconds between beats; a trial is stale after three.
        must_exist: For readers: no SQLite or journal file is an error, not a new one.

    Raises:
        UsageError: A malformed or unreachable URL (the password is never shown).
    """
    parsed = as_url(url)
    url = parsed.text
    local = parsed.backend in ("sqlite", "journal")
    if must_exist and local and (parsed.file is None or not parsed.file.is_file()):
        raise UsageError(
            f"no storage at {parsed.redacted()}: the file does not exist (run 'tricksearch run')"
        )
    if local and parsed.file is not None and not parsed.file.parent.is_dir():
        raise UsageError(f"storage {url!r}: directory {parsed.file.parent} does not exist")
    if parsed.backend == "journal":
        if parsed.file is None:
            raise UsageError("journal storage needs a file: journal:///study.log")
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(parsed.file)))
    try:  # an unknown driver fails here, before anything touches the database file
        make_url(url).get_dialect()
    except Exception as exc:  # SQLAlchemy raises NoSuchModuleError, ImportError, ...
        message = parsed.scrub(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise UsageError(f"cannot open storage {parsed.redacted()}: {message}") from None
    kwargs = _rdb_kwargs(parsed, heartbeat, heartbeat_interval)
    try:
        storage = ResilientRDBStorage(url, **kwargs)  # a down server fails here, at once
    except Exception as exc:  # SQLAlchemy raises many types for a bad URL or a dead server
        message = parsed.scrub(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise UsageError(f"cannot open storage {parsed.redacted()}: {message}") from None
    if parsed.backend == "sqlite":
        _sync_normal(storage.engine)
    return storage


def _rdb_kwargs(parsed: StorageURL, heartbeat: bool, interval: int) -> dict[str, Any]:
    """``RDBStorage`` arguments: SQLite in WAL mode with a 60 s busy timeout, or a server whose
    pooled connections are pinged (a retry after a restart gets a live one); heartbeats."""
    kwargs: dict[str, Any] = {}
    if parsed.backend == "sqlite":
        if parsed.file is None or str(parsed.file) == ":memory:":
            raise UsageError(
                f"sqlite storage needs a file: sqlite:///study.db, got {parsed.redacted()!r}"
            )
        _enable_wal(parsed.file)
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    else:
        kwargs["engine_kwargs"] = {"pool_pre_ping": True}
    if heartbeat:
        kwargs["heartbeat_interval"] = interval
        kwargs["grace_period"] = 3 * interval
        kwargs["heartbeat_stale_trial_callback"] = retry_callback()
    return kwargs


#: Retries a stale (killed) trial: same parameters, its reports kept; the objective then
#: continues it from its last checkpoint. Up to 3 retries of one trial.
MAX_RETRIES = 3


def retry_callback() -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    return optuna.storages.RetryHeartbeatStaleTrialCallback(
        max_retry=MAX_RETRIES, inherit_intermediate_values=True
    )


def _enable_wal(path: Path) -> None:
    """Write-ahead logging lets readers and one writer work at once; it persists in the file."""
    try:
        with sqlite3.connect(path, timeout=60) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise UsageError(
            f"storage sqlite:///{path}: not a usable SQLite database ({exc})"
        ) from None


def _sync_normal(engine: Engine) -> None:
    """``PRAGMA synchronous=NORMAL`` on every connection: no fsync per commit.

    With write-ahead logging this is SQLite's own recommendation: a commit survives a
    crash or kill of the process and the file is never corrupted; a power loss may
    roll back the last commits (the seconds before it), which the heartbeat retry and
    ``--n-trials`` resume absorb. Each write of a trial (a report, a user attribute)
    takes about 0.6 ms instead of 1.4 ms on this project's machine.
    """
    event.listen(engine, "connect", lambda conn, _record: conn.execute("PRAGMA synchronous=1"))
    engine.dispose()  # connections opened before the listener get the pragma when reopened


def artifact_dir(url: str | StorageURL) -> Path:
    """The file-system artifact store beside a file storage, or ``./tricksearch_artifacts``."""
    file = as_url(url).file
    if file is not None:
        return file.parent / f"{file.stem}_artifacts"
    return Path("tricksearch_artifacts")

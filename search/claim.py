"""A per-study lock around "is the study full? if not, take a trial": N workers stop at N."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock

from search.storage import StorageURL, as_url

__all__ = ["CLAIM_SUFFIX", "claim_lock"]

#: Beside a file storage: ``study.db.claim.lock``. Not ``.lock``: Optuna's journal file
#: storage takes ``<file>.lock`` for its own symlink lock, and would wait 30 s for ours
#: and then break it.
CLAIM_SUFFIX = ".claim.lock"


@contextmanager
def claim_lock(url: str | StorageURL, study_name: str) -> Iterator[None]:
    """Hold a per-study lock that every worker on every machine sees.

    File storages (SQLite with any driver, journal) lock a ``.claim.lock`` file beside the
    database with ``filelock`` (portable); PostgreSQL uses a session advisory lock and
    MySQL ``GET_LOCK``. The operating system or the database releases the lock when a
    worker dies.
    """
    parsed = as_url(url)
    if parsed.file is not None:
        with FileLock(parsed.file.with_name(parsed.file.name + CLAIM_SUFFIX)):
            yield
        return
    key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
    import sqlalchemy

    engine = sqlalchemy.create_engine(parsed.text, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            arg: int | str = key
            lock, unlock = "pg_advisory_lock(:k)", "pg_advisory_unlock(:k)"
            if parsed.backend == "mysql":  # parse_url admits no other server
                lock, unlock, arg = "GET_LOCK(:k, -1)", "RELEASE_LOCK(:k)", f"tricksearch-{key}"
            conn.execute(sqlalchemy.text(f"SELECT {lock}"), {"k": arg})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text(f"SELECT {unlock}"), {"k": arg})
    finally:
        engine.dispose()

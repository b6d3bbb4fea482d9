"""A per-study lock around "is the study full? if not, take a trial": N workers stop at N."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["claim_lock"]


def _file_of(url: str) -> Path | None:
    if url.startswith(("sqlite:///", "journal:///")):
        return Path(url.split(":///", 1)[1])
    return None


@contextmanager
def claim_lock(url: str, study_name: str) -> Iterator[None]:
    """Hold a per-study lock that every worker on every machine sees.

    File storages (SQLite, journal) use ``flock`` on a ``.lock`` file beside the
    database; PostgreSQL uses a session advisory lock and MySQL ``GET_LOCK``. The
    operating system or the database releases the lock when a worker dies.
    """
    path = _file_of(url)
    if path is not None:
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    key = int.from_bytes(hashlib.sha256(study_name.encode()).digest()[:8], "big", signed=True)
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        elif engine.dialect.name == "mysql":
            name = f"tricksearch-{key}"
            conn.execute(sqlalchemy.text("SELECT GET_LOCK(:n, -1)"), {"n": name})
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT RELEASE_LOCK(:n)"), {"n": name})
        else:
            yield
    engine.dispose()

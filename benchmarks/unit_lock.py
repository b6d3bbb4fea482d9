"""One stored result per unit, shared by several benchmark processes through a file lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


@contextmanager
def claimed(path: Path) -> Iterator[bool]:
    """True while this process should compute the unit stored at ``path``.

    False if it is stored already (no lock taken, no lock file left beside it) or another
    process holds its lock (``path`` with the suffix ``.lock``); the lock is checked
    without waiting and held until the block ends, and the result is looked for again
    under it, since another process may have stored it in between.
    """
    if path.exists():
        yield False
        return
    lock = FileLock(path.with_suffix(".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield not path.exists()
    finally:
        lock.release()

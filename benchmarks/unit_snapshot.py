"""Copy a benchmark's results folder, half-done units included, so a long run can move.

The long benchmarks (``search_efficiency.py``, ``recipe_variants.py``) store each finished
unit as JSON at once and keep a half-done unit's state beside it: a search's Optuna study
in ``<unit>.db`` (SQLite) and a long run's checkpoint folder ``<unit>/``. A session that
ends on one machine and resumes on a fresh one loses that state unless it travels with
the results, so this copies all of it, say into the git tree before a commit:

    .venv/bin/python benchmarks/unit_snapshot.py /work/out/search_efficiency_budget1300 \\
        benchmarks/results/search_efficiency_budget1300

and the same with the two folders swapped on the new machine, before the benchmark's own
command continues the run. Each database goes through SQLite's online backup, so a copy
taken while a benchmark process writes is a consistent database; lock and temporary
files stay behind. State the source no longer has (a unit that finished since the last
copy: its database or checkpoint folder) is removed from the destination; stored results
are never removed.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

SKIPPED_SUFFIXES = (".lock", ".tmp", "-journal", "-wal", "-shm")


def is_state(path: Path, root: Path) -> bool:
    """A database or a file in a checkpoint folder: what a finished unit no longer has."""
    return path.suffix == ".db" or path.parent != root


def copied(path: Path) -> bool:
    return not path.name.startswith(".") and not path.name.endswith(SKIPPED_SUFFIXES)


def backup_sqlite(path: Path, target: Path) -> None:
    """``path`` copied to ``target`` by SQLite's online backup (waits out a writer's lock)."""
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(path, timeout=60)) as source,
        closing(sqlite3.connect(partial)) as copy,
    ):
        source.backup(copy)
    partial.replace(target)


def snapshot(src: Path, dst: Path) -> tuple[list[Path], list[Path]]:
    """Copy ``src`` into ``dst``; returns the files copied and the stale state removed."""
    wanted = [p for p in sorted(src.rglob("*")) if p.is_file() and copied(p)]
    done = []
    for path in wanted:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            backup_sqlite(path, target)
        else:
            shutil.copy2(path, target)
        done.append(target)
    keep = {dst / p.relative_to(src) for p in wanted}
    stale = [
        p for p in sorted(dst.rglob("*")) if p.is_file() and is_state(p, dst) and p not in keep
    ]
    for path in stale:
        path.unlink()
    for folder in sorted((p for p in dst.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return done, stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="a benchmark's results folder")
    parser.add_argument("dst", type=Path, help="where the copy goes (created if missing)")
    args = parser.parse_args()
    if not args.src.is_dir():
        print(f"unit_snapshot: {args.src} is not a folder", file=sys.stderr)
        sys.exit(2)
    if args.src.resolve() == args.dst.resolve():
        print("unit_snapshot: source and destination are the same folder", file=sys.stderr)
        sys.exit(2)
    done, stale = snapshot(args.src, args.dst)
    databases = sum(p.suffix == ".db" for p in done)
    print(
        f"{args.dst}: {len(done)} files copied ({databases} databases), "
        f"{len(stale)} stale state files removed"
    )


if __name__ == "__main__":
    main()

"""The one place a benchmark writes its results: ``NAME.md`` (the table) and ``NAME.json``.

Every script in ``benchmarks/`` calls :func:`write_results` once its lines are made, so the
files look alike and land in ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["write_results"]


def write_results(out: str | Path, name: str, lines: list[str], data: Any = None) -> Path:
    """Write ``out/name.md`` (and ``out/name.json`` when ``data`` is given); print the table.

    Returns:
        The Markdown file's path.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{name}.md"
    md.write_text("\n".join(lines) + "\n")
    if data is not None:
        (folder / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))
    print("\n".join(lines))
    return md

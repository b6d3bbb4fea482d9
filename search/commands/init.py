"""``tricksearch init``: write a commented starter study file to edit."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from search.commands.options import add_command
from search.errors import UsageError

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "init",
        "write a commented starter study file to edit",
        "tricksearch init my_study.toml --from image_folder",
    )
    p.add_argument("path", help="the study file to write (e.g. my_study.toml)")
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        metavar="NAME",
        help="the shipped study to start from (default: image_folder, for your own images)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.shipped import DEFAULT_TEMPLATE, shipped_study

    source = shipped_study(args.source or DEFAULT_TEMPLATE)
    target = Path(args.path)
    if target.exists() and not args.force:
        raise UsageError(f"{target} exists; choose another path or add --force")
    if not target.parent.is_dir():
        raise UsageError(f"no folder {target.parent} to write {target.name} in")
    target.write_text(source.read_text())
    hint = " --data-dir DIR" if source.stem == DEFAULT_TEMPLATE else ""
    print(f"wrote {target} (from {source.stem}); edit it, then: tricksearch run {target}{hint}")
    return 0

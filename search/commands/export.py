"""``tricksearch export``: write the best trials' trick configs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from search.commands.options import add_command, add_study, storage_url
from search.errors import UsageError

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "export",
        "write the best trial's trick config",
        "tricksearch export --study quickstart --output best.toml",
    )
    add_study(p)
    p.add_argument("--top", type=int, default=1, help="export the K best trials")
    p.add_argument("--output", default="best.toml", help="output file")
    p.add_argument("--format", choices=("toml", "json"), default="toml")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.export import export_configs

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    paths = export_configs(storage_url(args), args.study, args.top, Path(args.output), args.format)
    for path in paths:
        print(f"wrote {path}")
    if args.format == "toml":
        print(next_step(paths[0]))
    return 0


def next_step(path: Path) -> str:
    """The hint after an export: train the config, and longer than its trial did."""
    import tomllib

    epochs = tomllib.loads(path.read_text())["train"]["epochs"]
    return (
        f"next: tricksearch train {path}  (its trial trained {epochs} epochs; add --epochs N "
        "to retrain it longer, which the docs' Results found worth about a point at 4x)"
    )

"""``tricksearch ablate``: retrain the best configs with one trick at a time switched off."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from search.commands.options import (
    add_artifact_dir,
    add_command,
    add_data_options,
    add_study,
    storage_url,
)
from search.errors import UsageError

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "ablate",
        "retrain the best config with one trick at a time off",
        "tricksearch ablate --study quickstart --seeds 3",
    )
    add_study(p)
    add_data_options(p)
    p.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    p.add_argument("--top", type=int, default=1, help="ablate the N best configs (default 1)")
    p.add_argument("--output", default=None, help="output directory (default ablation-<study>)")
    add_artifact_dir(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.ablate import ablate
    from search.device import resolve_device

    for flag, value in (("--seeds", args.seeds), ("--top", args.top)):
        if value < 1:  # the library names its arguments; here they are flags
            raise UsageError(f"{flag} must be >= 1, got {value}")

    path = ablate(
        storage_url(args),
        args.study,
        seeds=args.seeds,
        top=args.top,
        device=resolve_device(args.device),
        output=Path(args.output) if args.output else None,
        data_dir=args.data_dir,
        artifacts=args.artifact_dir,
    )
    print(path.read_text())
    print(f"wrote {path}, {path.with_suffix('.json')}, {path.with_suffix('.png')}")
    return 0

"""``tricksearch report``: a Markdown report with figures for a study."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from search.commands.options import add_command, add_data_options, add_study, storage_url

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "report",
        "write a Markdown report with figures for a study",
        "tricksearch report --study quickstart --output report-quickstart",
    )
    add_study(p)
    p.add_argument("--output", default=None, help="output directory (default report-<study>)")
    p.add_argument(
        "--no-test",
        action="store_true",
        help="skip retraining the best config for its test-split metrics",
    )
    add_data_options(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.device import resolve_device
    from search.report import build_report

    path = build_report(
        storage_url(args),
        args.study,
        Path(args.output or f"report-{args.study}"),
        resolve_device(args.device),
        args.data_dir,
        evaluate_test=not args.no_test,
    )
    print(f"wrote {path}")
    return 0

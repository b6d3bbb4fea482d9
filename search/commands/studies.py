"""``tricksearch studies``: list the studies of a storage."""

from __future__ import annotations

import argparse
import json
from typing import Any

from search.commands.options import add_command, add_storage, storage_url

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "studies",
        "list the studies of a storage",
        "tricksearch studies --storage sqlite:///tricksearch.db",
    )
    add_storage(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.export import study_table

    rows = study_table(storage_url(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no studies")
        return 0
    print(
        f"{'study':24s} {'metric':18s} {'trials':>6s} {'done':>5s} {'pruned':>6s} "
        f"{'fail':>5s} {'run':>4s} {'best':>8s}"
    )
    for r in rows:
        best = f"{r['best_value']:.4f}" if r["best_value"] is not None else "-"
        print(
            f"{r['name']:24s} {r['metric']:18s} {r['trials']:6d} {r['complete']:5d} "
            f"{r['pruned']:6d} {r['fail']:5d} {r['running']:4d} {best:>8s}"
        )
    return 0

"""``tricksearch dashboard``: optuna-dashboard on a storage and its artifact store."""

from __future__ import annotations

import argparse
from typing import Any

from search.commands.options import add_artifact_dir, add_command, add_storage, storage_url

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "dashboard",
        "start optuna-dashboard on a storage",
        "tricksearch dashboard --storage sqlite:///tricksearch.db --port 8080",
    )
    add_storage(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080)
    add_artifact_dir(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.dashboard import serve

    serve(storage_url(args), args.host, args.port, args.artifact_dir)
    return 0

"""The tricksearch command line: search five training tricks for imbalanced data with Optuna.

Each command lives in :mod:`search.commands`; this module builds the parser from them
and turns user mistakes into one line on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from search.commands import COMMANDS
from search.defaults import ENV_THREADS
from search.errors import UsageError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Options are spelt out: a typo ("--work 2") never passes for another option.
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str) -> NoReturn:
        # One line, not usage + error: the CLI's contract for user mistakes.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tricksearch",
        description="Search five training tricks for imbalanced data with Optuna.",
        epilog="example:\n  tricksearch run quickstart && tricksearch export --study quickstart",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tricksearch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tricksearch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tricksearch`` console script; returns the exit status."""
    import time
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    from tricks.allocator import keep_freed_memory

    keep_freed_memory()  # before torch allocates anything
    import torch  # first, so that start-up is timed from here

    if os.environ.get(ENV_THREADS):  # every command: a process's share of a node's cores
        torch.set_num_threads(int(os.environ[ENV_THREADS]))

    args.argv, args.torch_ready = argv, time.perf_counter()
    from optuna.exceptions import ExperimentalWarning

    from tricks.config import ConfigError
    from tricks.data import DataError

    # Heartbeats and the retry callback are "experimental" in Optuna; users need not see that.
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    try:
        return int(args.func(args))
    except (UsageError, ConfigError, DataError) as exc:
        print(f"tricksearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tricksearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

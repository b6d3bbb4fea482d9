"""Options several commands share, declared once."""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = [
    "add_artifact_dir",
    "add_checkpoint_dir",
    "add_command",
    "add_data_options",
    "add_overrides",
    "add_storage",
    "add_study",
    "storage_url",
]

from search.defaults import DEFAULT_STORAGE, ENV_ARTIFACT_DIR, ENV_CHECKPOINT_DIR, ENV_STORAGE


def add_command(sub: Any, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` says what it does and shows one example, as typed."""
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_storage(p: argparse.ArgumentParser, fallback: str = DEFAULT_STORAGE) -> None:
    """``--storage URL``; without it ``$TRICKSEARCH_STORAGE``, then ``fallback``."""
    p.add_argument(
        "--storage",
        default=None,
        help=f"storage URL (default: ${ENV_STORAGE}, else {fallback})",
    )


def add_study(p: argparse.ArgumentParser) -> None:
    """``--storage`` and ``--study NAME``, for the commands that read one stored study."""
    add_storage(p)
    p.add_argument("--study", required=True, help="study name")


def storage_url(args: argparse.Namespace, fallback: str = DEFAULT_STORAGE) -> str:
    """``--storage``, else ``$TRICKSEARCH_STORAGE``, else ``fallback``."""
    return str(args.storage or os.environ.get(ENV_STORAGE) or fallback)


def add_artifact_dir(p: argparse.ArgumentParser) -> None:
    """``--artifact-dir DIR``; without it ``$TRICKSEARCH_ARTIFACT_DIR``, then beside the storage."""
    p.add_argument(
        "--artifact-dir",
        default=os.environ.get(ENV_ARTIFACT_DIR) or None,
        help=f"artifact store folder (default: ${ENV_ARTIFACT_DIR}, else beside a file storage)",
    )


def add_checkpoint_dir(p: argparse.ArgumentParser) -> None:
    """``--checkpoint-dir DIR``; without it ``$TRICKSEARCH_CHECKPOINT_DIR``, then beside it."""
    p.add_argument(
        "--checkpoint-dir",
        default=os.environ.get(ENV_CHECKPOINT_DIR) or None,
        help=f"running trials' checkpoints (default: ${ENV_CHECKPOINT_DIR}, else beside a file "
        "storage); a folder every worker sees",
    )


def add_data_options(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--data-dir``, for every command that trains."""
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="dataset root (torchvision style)")


def add_overrides(p: argparse.ArgumentParser) -> None:
    """``--set SECTION.KEY=VALUE``, repeatable."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config field; repeatable",
    )

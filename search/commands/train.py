"""``tricksearch train``: train once with a trick config and write metrics and weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.commands.options import add_command, add_data_options, add_overrides
from search.errors import UsageError

if TYPE_CHECKING:
    from tricks.config import TrickConfig

__all__ = ["add_parser", "load_trick_config"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "train",
        "train once with a trick config",
        "tricksearch train best.toml --epochs 80 --output runs/best",
    )
    p.add_argument("config", help="trick config TOML (e.g. examples/fashion_mnist_lt.toml)")
    p.add_argument("--output", default=None, help="output directory (default runs/<config name>)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        metavar="N",
        help="train N epochs, with warmup, decay phase and deferred re-weighting stretched "
        "in proportion (retrain a search winner longer); replayed restarts are dropped",
    )
    add_data_options(p)
    add_overrides(p)
    p.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from search.device import resolve_device
    from search.retrain import run_train
    from tricks.user_code import add_search_dir

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    add_search_dir(Path(args.config).parent)  # factory modules next to the config file
    config = load_trick_config(args.config, args.overrides)
    if args.epochs is not None and args.epochs != config.train.epochs:
        dropped = len(config.restart.replay)
        print(
            f"stretched from {config.train.epochs} to {args.epochs} epochs: warmup, decay "
            f"phase and deferred re-weighting in proportion; {dropped} replayed restarts dropped",
            file=sys.stderr,
        )
        config = config.stretched(args.epochs)
    device = resolve_device(args.device)
    output = Path(args.output or Path("runs") / Path(args.config).stem)
    metrics = run_train(config, output, device, args.data_dir)
    test = metrics["test"]
    print(
        f"{config.train.metric}: val {metrics['value']:.4f} "
        f"(before fine-tune {metrics['pre_finetune_value']:.4f}), "
        + (f"test {test[config.train.metric]:.4f}" if test else "no test split")
    )
    print(f"wrote {output / 'metrics.json'}, {output / 'model.pt'}, {output / 'config.toml'}")
    return 0


def load_trick_config(path: str, overrides: list[str]) -> TrickConfig:
    """Read a trick config file and apply ``--set`` overrides.

    Raises:
        ConfigError: Missing, unreadable or invalid file, or a bad override.
    """
    from tricks.config import ConfigError, TrickConfig, apply_overrides, read_toml

    raw = read_toml(path)
    try:
        return TrickConfig.from_dict(apply_overrides(raw, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None

"""``tricksearch train``: train once with a trick config and write metrics and weights."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from search.commands.options import add_data_options, add_overrides
from search.errors import UsageError

if TYPE_CHECKING:
    from tricks.config import TrickConfig

__all__ = ["add_parser", "load_trick_config", "run_train"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train once with a trick config")
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

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
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
    print(
        f"{config.train.metric}: val {metrics['value']:.4f} "
        f"(before fine-tune {metrics['pre_finetune_value']:.4f}), "
        f"test {metrics['test'][config.train.metric]:.4f}"
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


def _printer(stream: TextIO) -> Any:
    from tricks.finetune import FinetuneResult
    from tricks.restart import RestartEvent
    from tricks.trainer import EpochEnd

    def listen(event: object) -> None:
        if isinstance(event, EpochEnd):
            line = (
                f"epoch {event.epoch:3d} [{event.phase:8s}] loss {event.train_loss:.4f} "
                f"lr {event.lr:.2e} val {event.value:.4f} ({event.seconds:.1f}s)"
            )
        elif isinstance(event, RestartEvent):
            line = (
                f"  restart at epoch {event.epoch} ({event.reason}): "
                f"lr {event.lr_before:.2e} -> {event.lr_after:.2e}"
            )
        elif isinstance(event, FinetuneResult):
            line = (
                f"  no-aug fine-tune: {event.before:.4f} -> {event.after:.4f} ({event.gain:+.4f})"
            )
        else:
            return
        print(line, file=stream, flush=True)

    return listen


def run_train(
    config: TrickConfig,
    output: Path,
    device: str,
    data_dir: str | None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Train, evaluate on val and test; write ``metrics.json``, ``model.pt`` and ``config.toml``.

    Progress lines go to ``stream`` (standard output when None).
    """
    import torch

    from tricks.data import load_bundle
    from tricks.trainer import Trainer

    start, stream = time.perf_counter(), stream or sys.stdout
    data = load_bundle(config.data, seed=config.train.seed, data_dir=data_dir)
    print(
        f"{config.data.dataset}: {len(data.y_train)} train images {data.class_counts}, "
        f"{len(data.y_val)} val, {len(data.y_test)} test; device {device}",
        file=stream,
        flush=True,
    )
    trainer = Trainer(config, data, device)
    result = trainer.fit(_printer(stream))
    test = trainer.evaluate(result.model, "test")
    output.mkdir(parents=True, exist_ok=True)
    metrics = {
        "metric": config.train.metric,
        "value": result.value,
        "pre_finetune_value": result.pre_finetune_value,
        "val": result.metrics,
        "test": test,
        "classes": data.classes,
        "class_counts": data.class_counts,
        "restarts": [e.to_dict() for e in result.restarts],
        "history": [vars(e) for e in result.history],
        "seconds": time.perf_counter() - start,
    }
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    torch.save(result.model.state_dict(), output / "model.pt")
    config.save(output / "config.toml")
    return metrics

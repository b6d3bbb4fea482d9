"""``tricksearch train``: train once with a trick config and write metrics and weights."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tricks.config import ConfigError, TrickConfig, apply_overrides, read_toml
from tricks.restart import RestartEvent

__all__ = ["load_trick_config", "run_train"]


def load_trick_config(path: str, overrides: list[str]) -> TrickConfig:
    """Read a trick config file and apply ``--set`` overrides.

    Raises:
        ConfigError: Missing, unreadable or invalid file, or a bad override.
    """
    raw = read_toml(path)
    try:
        return TrickConfig.from_dict(apply_overrides(raw, overrides))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _printer(stream: Any = sys.stdout):  # type: ignore[no-untyped-def]
    from tricks.finetune import FinetuneResult
    from tricks.trainer import EpochEnd

    def listen(event: object) -> None:
        if isinstance(event, EpochEnd):
            print(
                f"epoch {event.epoch:3d} [{event.phase:8s}] loss {event.train_loss:.4f} "
                f"lr {event.lr:.2e} val {event.value:.4f} ({event.seconds:.1f}s)",
                file=stream,
                flush=True,
            )
        elif isinstance(event, RestartEvent):
            print(
                f"  restart at epoch {event.epoch} ({event.reason}): "
                f"lr {event.lr_before:.2e} -> {event.lr_after:.2e}",
                file=stream,
                flush=True,
            )
        elif isinstance(event, FinetuneResult):
            print(
                f"  no-aug fine-tune: {event.before:.4f} -> {event.after:.4f} ({event.gain:+.4f})",
                file=stream,
                flush=True,
            )

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

    start = time.perf_counter()
    data = load_bundle(config.data, seed=config.train.seed, data_dir=data_dir)
    stream = stream or sys.stdout
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

"""Train one trick config to the end and write what a user keeps: metrics, weights, config.

Shared by ``tricksearch train`` and ``report`` (which retrains the best config for its
test metrics).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tricks.restart import RestartEvent
from tricks.session import Session

if TYPE_CHECKING:
    from tricks.config import TrickConfig

__all__ = ["run_train"]


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
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """Train, evaluate on val and test; write ``metrics.json``, ``model.pt`` and ``config.toml``.

    Progress lines go to ``stream`` (standard output when None). With ``checkpoint``, the
    training state is kept in that file after every epoch and a run that finds it there
    continues from it (on the CPU it ends as an unbroken run would); it is removed at the end.
    """
    import torch

    from tricks.pretrained import check_provenance
    from tricks.sources import load_data
    from tricks.trainer import Trainer

    start, stream = time.perf_counter(), stream or sys.stdout
    check_provenance(config)
    if config.train.fit:
        return _run_fit(config, output, stream, start)
    data = load_data(config.data, seed=config.train.seed, data_dir=data_dir)
    source = config.data.factory or config.data.dataset
    print(
        f"{source}: {data.n_train} training examples {data.class_counts}; device {device}",
        file=stream,
        flush=True,
    )
    trainer = Trainer(config, data, device)
    store = _FileStore(checkpoint) if checkpoint is not None else None
    result = trainer.fit(_printer(stream), session=Session(config, store=store))
    test = trainer.evaluate(result.model, "test") if trainer.has_test else None
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
    # CPU tensors: torch.load(..., weights_only=True) opens it on a machine without the GPU.
    cpu_state = {k: v.detach().cpu() for k, v in result.model.state_dict().items()}
    torch.save(cpu_state, output / "model.pt")
    config.save(output / "config.toml")
    # Last, so a folder with metrics.json holds the whole run (``run --budget`` reuses it).
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if store is not None:  # only now: a kill before the outputs were written resumes
        store.remove()
    return metrics


class _PrintingSession(Session):
    """A plain session that prints each epoch and restart of a user's fit function."""

    def __init__(self, config: TrickConfig, stream: TextIO) -> None:
        super().__init__(config)
        self.stream = stream

    def on_epoch(self, row: dict[str, Any]) -> None:
        line = (
            f"epoch {row['epoch']:3d} [{row['phase']:8s}] loss {row['loss']:.4f} "
            f"lr {row['lr']:.2e} val {row['value']:.4f} ({row['seconds']:.1f}s)"
        )
        print(line, file=self.stream, flush=True)

    def on_restart(self, event: RestartEvent) -> None:
        line = f"  restart at epoch {event.epoch} ({event.reason}): lr -> {event.lr_after:.2e}"
        print(line, file=self.stream, flush=True)


def _run_fit(config: TrickConfig, output: Path, stream: TextIO, start: float) -> dict[str, Any]:
    """``train`` for a config trained by the user's fit function (``train.fit``)."""
    import torch

    from tricks.user_code import resolve_callable

    fit = resolve_callable(config.train.fit, "train.fit")
    session = _PrintingSession(config, stream)
    value = float(fit(config, session))
    output.mkdir(parents=True, exist_ok=True)
    metrics = {
        "metric": config.train.metric,
        "value": value,
        "pre_finetune_value": session.pre_finetune_value or value,
        "val": {},
        "test": session.test,
        "classes": [],
        "class_counts": [],
        "restarts": [e.to_dict() for e in session.restarts],
        "history": session.history,
        "seconds": time.perf_counter() - start,
    }
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if session.model is not None:
        state = {k: v.detach().cpu() for k, v in session.model.state_dict().items()}
        torch.save(state, output / "model.pt")
    config.save(output / "config.toml")
    return metrics


class _FileStore:
    """One run's checkpoint in one file, written and read as trial checkpoints are."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, state: dict[str, Any]) -> None:
        from search.checkpoints import save_checkpoint

        save_checkpoint(self.path, state)

    def load(self) -> dict[str, Any] | None:
        from search.checkpoints import load_checkpoint

        return load_checkpoint(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

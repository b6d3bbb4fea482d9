"""Trial checkpoints at epoch ends, so a killed or interrupted trial resumes where it stopped."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.storages import RetryHeartbeatStaleTrialCallback

from search.storage import StorageURL, as_url

__all__ = [
    "CheckpointStore",
    "checkpoint_dir",
    "load_checkpoint",
    "root_trial_number",
    "save_checkpoint",
]


def checkpoint_dir(url: str | StorageURL) -> Path:
    """``<db name>_checkpoints/`` beside a file storage, else ``./tricksearch_checkpoints``.

    Workers on several machines need a folder they all see (``run --checkpoint-dir``).
    """
    file = as_url(url).file
    if file is not None:
        return file.parent / f"{file.stem}_checkpoints"
    return Path("tricksearch_checkpoints")


def root_trial_number(trial: optuna.trial.FrozenTrial) -> int:
    """The trial a retry continues: Optuna's retry callback records it as ``failed_trial``."""
    number = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return trial.number if number is None else number


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` through a temporary file and a rename, so a kill never
    leaves a torn checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The state in ``path``, onto the CPU; None when there is none or it cannot be read.

    Onto the CPU: a trial checkpointed on cuda:3 may be retried on cuda:0 or on a host
    without a GPU; the trainer moves what it restores to its own device. An unreadable
    file starts the training over rather than failing it.
    """
    if not path.is_file():
        return None
    try:
        return dict(torch.load(path, weights_only=True, map_location="cpu"))
    except (OSError, RuntimeError, EOFError):
        return None


class CheckpointStore:
    """One file per running trial, ``<folder>/<study>/trial-<root number>.pt``.

    A trial's state is written at most once every ``every`` seconds (0: after every
    training epoch), so a killed trial loses at most that much training, plus an
    epoch, and short epochs do not each pay for a write. Each write replaces the last
    (a temporary file, then a rename, so a kill never leaves a torn checkpoint); a
    finished trial's file is removed. So the folder holds at most one checkpoint per
    running or failed-and-waiting trial.
    """

    def __init__(self, folder: str | Path, study_name: str, every: float = 0.0) -> None:
        if every < 0:
            raise ValueError(f"every must be >= 0 seconds, got {every=}")
        self.folder = Path(folder) / study_name
        self.every = every
        self._last: dict[int, float] = {}  # trial -> monotonic time of its last write

    def path(self, root: int) -> Path:
        return self.folder / f"trial-{root}.pt"

    def save(self, root: int, state: dict[str, Any]) -> None:
        """Write ``state`` if ``every`` seconds have passed since this trial's last write
        (or, for its first, since its first epoch's call)."""
        now = time.monotonic()
        if self.every and now - self._last.setdefault(root, now) < self.every:
            return
        self._last[root] = now
        save_checkpoint(self.path(root), state)

    def load(self, root: int) -> dict[str, Any] | None:
        return load_checkpoint(self.path(root))

    def remove(self, root: int) -> None:
        self._last.pop(root, None)
        self.path(root).unlink(missing_ok=True)

"""How often a running trial's checkpoint is written (``run --checkpoint-every``)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from search.checkpoints import CheckpointStore


def epoch_on_disk(store: CheckpointStore, root: int) -> int | None:
    path = store.path(root)
    return int(torch.load(path, weights_only=True)["epoch"]) if path.is_file() else None


def test_every_zero_writes_after_every_epoch(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "s", every=0)
    for epoch in range(3):
        store.save(7, {"epoch": epoch})
        assert epoch_on_disk(store, 7) == epoch


def test_a_trial_is_written_at_most_once_per_interval(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "s", every=0.3)
    store.save(1, {"epoch": 0})  # the clock starts at the first epoch
    store.save(1, {"epoch": 1})
    assert epoch_on_disk(store, 1) is None
    time.sleep(0.35)
    store.save(1, {"epoch": 2})
    store.save(1, {"epoch": 3})  # too soon after the last write
    assert epoch_on_disk(store, 1) == 2
    store.save(2, {"epoch": 0})  # each trial has its own clock
    assert epoch_on_disk(store, 2) is None
    store.remove(1)  # finished: the file goes, and a rerun of the number starts over
    assert epoch_on_disk(store, 1) is None
    store.save(1, {"epoch": 0})
    assert epoch_on_disk(store, 1) is None


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="every must be >= 0"):
        CheckpointStore("x", "s", every=-1)

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


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing in the runner catches it, so nothing is told."""


def test_a_trial_killed_after_training_keeps_its_checkpoint_until_its_end_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the last epoch and ``tell`` a trial's artifacts are uploaded; a worker killed
    there leaves the trial RUNNING, and its retry must resume, not train it all again."""
    import optuna
    from optuna.trial import TrialState

    import search.runner as runner
    from search.study_file import load_study_file

    def kill_during_upload(*args: object) -> None:
        raise _Killed

    monkeypatch.setattr(runner, "_recorder", lambda *args: kill_during_upload)
    sets = ["data.max_per_class=150", "data.val_per_class=40", "data.test_per_class=20",
            "train.epochs=2", "finetune.epochs=1", "train.batch_size=64"]  # fmt: skip
    spec = load_study_file(str(Path(__file__).parents[1] / "studies" / "quickstart.toml"), sets)
    url = f"sqlite:///{tmp_path / 'o.db'}"
    opts = runner.RunOptions(url, "kill", 1, quiet=True, dashboard=False, warm_start=False,
                             checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=0.0)  # fmt: skip
    with pytest.raises(_Killed):
        runner.run_study(spec, opts)
    (trial,) = optuna.load_study(study_name="kill", storage=url).trials
    assert trial.state == TrialState.RUNNING
    store = CheckpointStore(tmp_path / "ck", "kill")
    saved = torch.load(store.path(trial.number), weights_only=True)
    assert saved["session"]["last_epoch"] == 1  # the last training epoch
    monkeypatch.undo()  # a finished trial's checkpoint goes once its end is stored
    opts.n_trials = 2
    runner.run_study(spec, opts)  # trial 0 is not stale yet: a new trial 1 runs to its end
    assert sorted(p.name for p in store.folder.glob("*.pt")) == ["trial-0.pt"]

"""The Optuna objective: one trial trains one sampled trick config through the trainer's events."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from search import optuna_private
from search.checkpoints import CheckpointStore, root_trial_number
from search.pruner import RestartOnPrunePruner
from search.record import TrialWriter
from search.space import suggest_config
from search.study_file import StudySpec
from tricks.config import TrickConfig
from tricks.restart import Decision, RestartEvent, RestartReason
from tricks.schedules import steps_per_epoch
from tricks.sources import Data
from tricks.trainer import EpochEnd, Listener, Trainer, TrainingStopped, TrainResult

__all__ = ["Objective", "TrialOutcome"]


@dataclass
class TrialOutcome:
    """What one trial did, handed to the ``after_trial`` hook (notes, artifacts)."""

    config: TrickConfig
    curve: list[dict[str, Any]]
    restarts: list[dict[str, Any]]
    result: TrainResult | None = None
    pruned_reason: str | None = None
    classes: list[str] = field(default_factory=list)
    class_counts: list[int] = field(default_factory=list)
    recipe: dict[str, str] | None = None  # a warm-start trial's {"name", "source"}


TrialHook = Callable[[optuna.Trial, TrialOutcome], None]


class Objective:
    """Trains a sampled trick config; hooks the study's pruner into random restarts.

    At the end of each epoch the validation metric is reported at the global epoch
    (never repeated across restarts). When the :class:`RestartOnPrunePruner` asks for
    a restart the trainer restarts with reason ``pruned``; when it says prune, or a
    divergence comes with no restart left, the trial raises ``optuna.TrialPruned``.
    Completed trials close with the no-aug fine-tune: the value is the metric after
    it and the record's ``pre_finetune_value`` (:mod:`search.record`) the one before.

    Args:
        spec: The study definition.
        data: Loaded once, shared by every trial of this process.
        device: Torch device string.
        on_epoch: Optional progress callback ``(trial_number, EpochEnd)``.
        after_trial: Optional hook (the dashboard uses it for notes and artifacts).
        torch_ready: ``time.perf_counter()`` when this process had imported torch; the
            first trial records the seconds from then to its first batch as
            ``user_attrs["startup_seconds"]``.
        checkpoints: Where a running trial's state is kept after training epochs (at
            most once per the store's interval); a retried trial continues from its
            original's last checkpoint (``resumed_after_epoch``).
    """

    def __init__(
        self,
        spec: StudySpec,
        data: Data,
        device: str = "cpu",
        on_epoch: Callable[[int, Any], None] | None = None,
        after_trial: TrialHook | None = None,
        torch_ready: float | None = None,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.spec = spec
        self.data = data
        self.device = device
        self.on_epoch = on_epoch
        self.after_trial = after_trial
        self.torch_ready = torch_ready
        self.checkpoints = checkpoints

    def __call__(self, trial: optuna.Trial) -> float:
        steps = steps_per_epoch(self.data.n_train, self.spec.base.train.batch_size)
        config = suggest_config(trial, self.spec.space, self.spec.base, steps)
        record = TrialWriter(trial)
        record.config(config.to_dict())
        root, resume = self._resume_point(trial)
        outcome = TrialOutcome(
            config,
            [_curve_row(EpochEnd(**e)) for e in resume["history"]] if resume else [],
            list(resume["controller"]["events"]) if resume else [],
            classes=self.data.classes,
            class_counts=self.data.class_counts,
            recipe=record.recipe,
        )
        record.restarts(outcome.restarts)
        if resume is not None:
            record.resumed_after(resume["epoch"])
        save = None
        if self.checkpoints is not None:
            store = self.checkpoints
            save = lambda state: store.save(root, state)  # noqa: E731
        trainer = Trainer(config, self.data, self.device)
        try:
            outcome.result = trainer.fit(self._listener(trial, outcome), save, resume)
        except TrainingStopped as exc:
            outcome.pruned_reason = f"{exc.reason} with no restart left"
            self._finish(trial, outcome, root)
            raise optuna.TrialPruned(str(exc)) from None
        except optuna.TrialPruned as exc:
            outcome.pruned_reason = str(exc)
            self._finish(trial, outcome, root)
            raise
        result = outcome.result
        record.result(result.pre_finetune_value, result.metrics)
        self._finish(trial, outcome, root)
        return result.value

    def _resume_point(self, trial: optuna.Trial) -> tuple[int, dict[str, Any] | None]:
        """The checkpoint key of this trial (a retry continues its original) and its state."""
        if self.checkpoints is None:
            return trial.number, None
        root = root_trial_number(optuna_private.stored_trial(trial))
        if root == trial.number:  # a new trial: a file under its number is a stale leftover
            self.checkpoints.remove(root)
            return root, None
        return root, self.checkpoints.load(root)

    def _listener(self, trial: optuna.Trial, outcome: TrialOutcome) -> Listener:
        """Report each epoch, turn the pruner's answer into a restart or a prune."""
        pruner, record = trial.study.pruner, TrialWriter(trial)

        def listen(event: object) -> str | None:
            if isinstance(event, RestartEvent):
                outcome.restarts.append(event.to_dict())
                record.restarts(outcome.restarts)
            if not isinstance(event, EpochEnd):
                return None
            outcome.curve.append(_curve_row(event))
            if self.torch_ready is not None:  # this process's first epoch
                started = time.perf_counter() - event.seconds - self.torch_ready
                record.startup(started)
                self.torch_ready = None
            if self.on_epoch is not None:
                self.on_epoch(trial.number, event)
            if not math.isfinite(event.value):
                return None  # the trainer restarts or stops on divergence itself
            trial.report(event.value, event.epoch)
            if event.phase != "train":
                return None
            if trial.should_prune():
                reason = "pruned"
                if isinstance(pruner, RestartOnPrunePruner):
                    reason = pruner.decision(trial.number)[1]
                raise optuna.TrialPruned(f"epoch {event.epoch}: {reason}")
            if isinstance(pruner, RestartOnPrunePruner):
                decision, _ = pruner.decision(trial.number)
                if decision is Decision.RESTART:
                    return RestartReason.PRUNED.value
            return None

        return listen

    def _finish(self, trial: optuna.Trial, outcome: TrialOutcome, root: int) -> None:
        if self.checkpoints is not None:
            self.checkpoints.remove(root)  # finished: nothing to resume
        record = TrialWriter(trial)
        record.curve(outcome.curve)
        if outcome.pruned_reason is not None:
            record.pruned(outcome.pruned_reason)
        if self.after_trial is not None:
            start = time.perf_counter()
            self.after_trial(trial, outcome)
            record.hook_seconds(time.perf_counter() - start)


def _curve_row(event: EpochEnd) -> dict[str, Any]:
    return {
        "epoch": event.epoch,
        "phase": event.phase,
        "value": event.value,
        "lr": event.lr,
        "loss": event.train_loss,
        "seconds": event.seconds,
    }

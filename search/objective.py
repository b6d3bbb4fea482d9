"""The Optuna objective: one trial trains one sampled trick config on the fit protocol."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna

from search.checkpoints import CheckpointStore, root_trial_number
from search.device import describe_device
from search.record import TrialWriter
from search.session import TrialSession, run_fit
from search.space import suggest_config
from search.study_file import StudySpec
from tricks.config import TrickConfig
from tricks.schedules import steps_per_epoch
from tricks.session import TrainingStopped
from tricks.sources import Data
from tricks.trainer import EpochEnd, Listener, Trainer, TrainResult
from tricks.user_code import resolve_callable

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
    fit_values: tuple[float, float] | None = None  # a fit function's (before, after) fine-tune

    def values(self) -> tuple[float, float] | None:
        """``(before, after)`` the no-aug fine-tune of a completed trial; None if pruned."""
        if self.result is not None:
            return self.result.pre_finetune_value, self.result.value
        return self.fit_values


TrialHook = Callable[[optuna.Trial, TrialOutcome], None]


class Objective:
    """Trains a sampled trick config; the study's pruner advises the trial's session.

    Each trial gets a :class:`~search.session.TrialSession`: every epoch is
    reported to the trial at its global epoch (never repeated across restarts); the
    :class:`RestartOnPrunePruner` says whether the trial looks poor, and the session's
    restart controller restarts it while restarts and epochs are left, else stops it
    (``optuna.TrialPruned``). Completed trials close with the no-aug fine-tune: the value
    is the metric after it and the record's ``pre_finetune_value`` (:mod:`search.record`)
    the one before.

    Args:
        spec: The study definition; ``train.fit`` (``[study] fit``) names a fit function
            (:mod:`tricks.session`) to train with instead of the built-in trainer.
        data: Loaded once, shared by every trial of this process; None for a fit
            function, which reads its own data.
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
        data: Data | None,
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
        self.device_name = describe_device(device)

    def __call__(self, trial: optuna.Trial) -> float:
        base = self.spec.base
        steps = base.train.steps_per_epoch
        if self.data is not None:
            steps = steps or steps_per_epoch(self.data.n_train, base.train.batch_size)
        config = suggest_config(trial, self.spec.space, base, steps)
        session = TrialSession(trial, config, self.checkpoints)
        session.record.device(self.device_name)
        outcome = TrialOutcome(
            config,
            [],
            [],
            classes=self.data.classes if self.data is not None else [],
            class_counts=self.data.class_counts if self.data is not None else [],
            recipe=session.record.recipe,
        )
        if config.train.fit:
            return self._user_fit(trial, session, outcome)
        assert self.data is not None, "the built-in trainer needs the study's data"
        resume = session.resume()
        trainer = Trainer(config, self.data, self.device)
        try:
            listener = self._listener(trial)
            outcome.result = trainer.fit(listener, resume=resume, session=session)
        except TrainingStopped as exc:
            outcome.pruned_reason = session.stop_reason(exc)
            session.close(exc)
            self._hook(trial, session, outcome)
            raise optuna.TrialPruned(outcome.pruned_reason) from None
        result = outcome.result
        session.close()
        session.record.result(result.pre_finetune_value, result.metrics)
        self._hook(trial, session, outcome)
        return result.value

    def _user_fit(self, trial: optuna.Trial, session: TrialSession, outcome: TrialOutcome) -> float:
        """A trial trained by the study's fit function (``train.fit``) on the protocol."""
        fit = resolve_callable(session.config.train.fit, "train.fit")
        try:
            value = run_fit(fit, session)
            outcome.fit_values = (session.pre_finetune_value or value, value)
            return value
        except optuna.TrialPruned as exc:
            outcome.pruned_reason = str(exc)
            raise
        finally:
            self._hook(trial, session, outcome)

    def _listener(self, trial: optuna.Trial) -> Listener:
        """Progress lines and the start-up time, from the trainer's events."""

        def listen(event: object) -> None:
            if not isinstance(event, EpochEnd):
                return
            if self.torch_ready is not None:  # this process's first epoch
                started = time.perf_counter() - event.seconds - self.torch_ready
                TrialWriter(trial).startup(started)
                self.torch_ready = None
            if self.on_epoch is not None:
                self.on_epoch(trial.number, event)

        return listen

    def finished(self, trial: optuna.trial.FrozenTrial) -> None:
        """Drop ``trial``'s checkpoint once the study has stored how it ended (the runner
        calls this after ``tell``; until then a retry of a killed worker resumes from it)."""
        if self.checkpoints is not None:
            self.checkpoints.remove(root_trial_number(trial))

    def _hook(self, trial: optuna.Trial, session: TrialSession, outcome: TrialOutcome) -> None:
        """The ``after_trial`` hook, with the curve and restarts as the session kept them."""
        outcome.curve = list(session.history)
        outcome.restarts = [e.to_dict() for e in session.restarts]
        if self.after_trial is not None:
            start = time.perf_counter()
            self.after_trial(trial, outcome)
            TrialWriter(trial).hook_seconds(time.perf_counter() - start)

"""An Optuna trial as a :class:`~tricks.session.Session`: the pruner advises, the trial records.

``trial_session(trial, config)`` is the few-line path for Optuna users who write their own
objective: it writes the config where the pruner and the dashboard read it, reports each
epoch to the trial, asks the study's restart-on-prune pruner whether the trial is poor, and
records every restart. A stop raises :class:`~tricks.session.TrainingStopped`, which
:func:`run_fit` (and an objective of the user's) turns into ``optuna.TrialPruned``.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from search import optuna_private
from search.checkpoints import CheckpointStore, root_trial_number
from search.pruner import RestartOnPrunePruner
from search.record import TrialWriter
from tricks.config import TrickConfig
from tricks.restart import RestartEvent
from tricks.session import FitFunction, Session, TrainingStopped

__all__ = ["TrialSession", "run_fit", "trial_session"]


class _TrialStore:
    """One trial's checkpoint in a :class:`CheckpointStore`, under the trial a retry continues."""

    def __init__(self, store: CheckpointStore, root: int) -> None:
        self.store, self.root = store, root

    def save(self, state: dict[str, Any]) -> None:
        self.store.save(self.root, state)

    def load(self) -> dict[str, Any] | None:
        return self.store.load(self.root)


class TrialSession(Session):
    """A session whose adviser is the study's pruner and whose record is the trial's."""

    def __init__(
        self,
        trial: optuna.Trial,
        config: TrickConfig,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.trial, self.record = trial, TrialWriter(trial)
        self.record.config(config.to_dict())
        self.record.restarts([])
        store = None
        self.root = trial.number
        if checkpoints is not None:
            self.root = root_trial_number(optuna_private.stored_trial(trial))
            if self.root == trial.number:  # a new trial: a file under its number is stale
                checkpoints.remove(self.root)
            store = _TrialStore(checkpoints, self.root)
        super().__init__(config, self._poor, store)

    def _poor(self, epoch: int, value: float) -> bool:
        pruner = self.trial.study.pruner
        if isinstance(pruner, RestartOnPrunePruner):
            frozen = optuna_private.stored_trial(self.trial)
            return pruner.poor(self.trial.study, frozen)[0]
        return self.trial.should_prune()

    def on_epoch(self, row: dict[str, Any]) -> None:
        if math.isfinite(row["value"]):
            self.trial.report(row["value"], row["epoch"])

    def on_restart(self, event: RestartEvent) -> None:
        self.record.restarts([e.to_dict() for e in self.restarts])

    def resume(self) -> dict[str, Any] | None:
        state = super().resume()
        if state is not None:
            self.record.restarts([e.to_dict() for e in self.restarts])
            self.record.resumed_after(self.last_epoch)
        return state

    def close(self, stopped: TrainingStopped | None = None) -> None:
        """Write what the dashboard and ``report`` read: the curve (the session's history),
        the values, the reason it stopped. The checkpoint stays until the study has stored
        the trial's end (``Objective.finished``): a kill before that retries from it."""
        self.record.curve(self.history)
        if stopped is not None:
            self.record.pruned(self.stop_reason(stopped))
        elif self.pre_finetune_value is not None:
            self.record.result(self.pre_finetune_value, {})

    def stop_reason(self, stopped: TrainingStopped) -> str:
        """Why the trial stopped, in the words ``report`` and the dashboard show."""
        if stopped.reason != "pruned":
            return f"epoch {stopped.epoch}: {stopped.reason} with no restart left"
        pruner = self.trial.study.pruner
        name = type(getattr(pruner, "wrapped_pruner", pruner)).__name__
        used, allowed = len(stopped.events), self.config.restart.max_restarts
        after = "no training epoch left" if used < allowed else f"{used} restarts"
        return f"epoch {stopped.epoch}: pruned by {name} after {after}"


def trial_session(
    trial: optuna.Trial, config: TrickConfig, checkpoints: CheckpointStore | None = None
) -> TrialSession:
    """A session for ``trial`` training ``config``: the pruner advises, restarts are recorded."""
    return TrialSession(trial, config, checkpoints)


def run_fit(fit: FitFunction, session: TrialSession) -> float:
    """Call a fit function for a trial; a stop becomes ``optuna.TrialPruned`` with its reason.

    Raises:
        optuna.TrialPruned: The session stopped the run.
        ValueError: The fit function returned something other than a finite number.
    """
    try:
        value = fit(session.config, session)
    except TrainingStopped as exc:
        session.close(exc)
        raise optuna.TrialPruned(session.stop_reason(exc)) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"study.fit: the fit function returned {value!r}, not a finite number")
    if session.pre_finetune_value is None:  # a fit function that did not call finish()
        session.pre_finetune_value = float(value)
    session.close()
    return float(value)

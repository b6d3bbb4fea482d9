"""Restart-on-prune: a pruner wrapper that gives a poor trial a random restart before killing it."""

from __future__ import annotations

import optuna
from optuna.pruners import BasePruner, HyperbandPruner

from search import optuna_private
from search.record import TrialRecord
from tricks.restart import Decision, restart_allowed

__all__ = ["RestartOnPrunePruner", "wrap_pruner"]


class RestartOnPrunePruner(BasePruner):
    """Wraps any Optuna pruner; its "prune" becomes a restart while the trial has restarts left.

    Like :class:`optuna.pruners.PatientPruner`, it wraps another pruner and changes
    only its decision. :meth:`poor` is the wrapped pruner's verdict, except for
    ``grace_epochs`` steps after a restart (a restarted trial is judged on its new
    course) and for warm-start recipe trials, which run to the end as the baselines
    the search is measured against. tricksearch's objective passes that verdict to
    the trial's :class:`~tricks.session.Session`, whose restart controller decides
    restart or stop with the one rule, :func:`tricks.restart.restart_allowed`.

    For objectives that call ``trial.should_prune()`` themselves, :meth:`prune` says
    ``True`` only when a poor trial has no restart left (the trial's record:
    ``max_restarts``, its restarts, ``train_epochs``; :mod:`search.record`), and
    :meth:`judge` tells a restart from a prune.

    Args:
        wrapped_pruner: Any pruner: Median, Percentile, SuccessiveHalving, Hyperband,
            Wilcoxon, Threshold, Nop.
        grace_epochs: Steps after a restart during which nothing is pruned or restarted.
        default_max_restarts: Used when the trial has no ``max_restarts`` attribute.
    """

    def __init__(
        self, wrapped_pruner: BasePruner, grace_epochs: int = 1, default_max_restarts: int = 1
    ) -> None:
        if grace_epochs < 0:
            raise ValueError(f"grace_epochs must be >= 0, got {grace_epochs=}")
        if default_max_restarts < 0:
            raise ValueError(f"default_max_restarts must be >= 0, got {default_max_restarts=}")
        self._wrapped = wrapped_pruner
        self._grace = grace_epochs
        self._default_max = default_max_restarts

    @property
    def wrapped_pruner(self) -> BasePruner:
        return self._wrapped

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return self.judge(study, trial)[0] is Decision.STOP

    def poor(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> tuple[bool, str]:
        """Whether the wrapped pruner finds the trial poor now, and why (or why not)."""
        step, record = trial.last_step, TrialRecord(trial)
        restarts = record.restarts
        if record.recipe is not None:
            return False, f"the warm-start recipe {record.recipe['name']!r} runs as typed"
        if restarts and step is not None and step - restarts[-1]["epoch"] <= self._grace:
            return False, f"grace after the restart at epoch {restarts[-1]['epoch']}"
        if not self._wrapped.prune(study, trial):
            return False, f"{type(self._wrapped).__name__} keeps the trial"
        return True, f"{type(self._wrapped).__name__} finds it poor"

    def judge(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> tuple[Decision, str]:
        """``(decision, reason)`` now: continue, restart instead of pruning, or stop (prune)."""
        poor, why = self.poor(study, trial)
        if not poor:
            return Decision.CONTINUE, why
        record, step = TrialRecord(trial), trial.last_step
        used = len(record.restarts)
        allowed = self._default_max if record.max_restarts is None else record.max_restarts
        epochs_left = record.train_epochs - 1 - (step if step is not None else -1)
        if restart_allowed(used, allowed, epochs_left):
            return Decision.RESTART, f"restart {used + 1} of {allowed} instead of pruning"
        after = "no training epoch left" if used < allowed else f"{used} restarts"
        return Decision.STOP, f"pruned by {type(self._wrapped).__name__} after {after}"


class _RestartOnPruneHyperband(RestartOnPrunePruner, HyperbandPruner):
    """The wrapper around a :class:`~optuna.pruners.HyperbandPruner`, still seen as one.

    Optuna restricts samplers to the trial's bracket only when ``isinstance(study.pruner,
    HyperbandPruner)`` (``optuna.pruners._filter_study``); this class passes that check
    and hands the bracket questions to the wrapped pruner. It relies on two private
    Optuna methods (``_get_bracket_id``, ``_create_bracket_study``), tested against the
    installed Optuna in ``tests/test_pruner.py``.
    """

    def __init__(self, wrapped_pruner: HyperbandPruner, grace_epochs: int, max_restarts: int):
        RestartOnPrunePruner.__init__(self, wrapped_pruner, grace_epochs, max_restarts)
        self._hyperband = wrapped_pruner

    def _get_bracket_id(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> int:
        return optuna_private.bracket_id(self._hyperband, study, trial)

    def _create_bracket_study(self, study: optuna.Study, bracket_id: int) -> optuna.Study:
        return optuna_private.bracket_study(self._hyperband, study, bracket_id)


def wrap_pruner(
    pruner: BasePruner, grace_epochs: int = 1, default_max_restarts: int = 1
) -> RestartOnPrunePruner:
    """Wrap ``pruner`` in restart-on-prune, keeping Hyperband's bracket-aware sampling."""
    if isinstance(pruner, HyperbandPruner):
        return _RestartOnPruneHyperband(pruner, grace_epochs, default_max_restarts)
    return RestartOnPrunePruner(pruner, grace_epochs, default_max_restarts)

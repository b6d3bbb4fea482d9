"""Restart-on-prune: a pruner wrapper that gives a poor trial a random restart before killing it."""

from __future__ import annotations

import optuna
from optuna.pruners import BasePruner, HyperbandPruner

from search import optuna_private
from search.record import TrialRecord
from tricks.restart import Decision

__all__ = ["RestartOnPrunePruner", "wrap_pruner"]


class RestartOnPrunePruner(BasePruner):
    """Wraps any Optuna pruner; its "prune" becomes a restart while the trial has restarts left.

    Like :class:`optuna.pruners.PatientPruner`, it wraps another pruner and changes
    only its decision. When the wrapped pruner says "prune", a trial that has used
    fewer than its record's ``max_restarts`` restarts (all reasons counted) and has
    training epochs left after this step (``train_epochs``, :mod:`search.record`) gets
    :attr:`~tricks.restart.Decision.RESTART` instead, and the objective restarts it
    from its best weights at a new learning rate. :meth:`prune` returns ``True``
    only when the restarts are used up, so ``if trial.should_prune(): raise
    optuna.TrialPruned()`` keeps its usual meaning. For ``grace_epochs`` steps
    after a restart the wrapped pruner is not consulted, so a restarted trial is
    judged on its new course.

    The last decision per trial number is kept for the objective to read with
    :meth:`decision`; it never changes the study.

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
        self._decisions: dict[int, tuple[Decision, str]] = {}

    @property
    def wrapped_pruner(self) -> BasePruner:
        return self._wrapped

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        decision, reason = self._evaluate(study, trial)
        self._decisions[trial.number] = (decision, reason)
        return decision is Decision.STOP

    def decision(self, trial_number: int) -> tuple[Decision, str]:
        """The last ``(decision, reason)`` for a trial; ``STOP`` means prune."""
        return self._decisions.get(trial_number, (Decision.CONTINUE, "not evaluated"))

    def _evaluate(
        self, study: optuna.Study, trial: optuna.trial.FrozenTrial
    ) -> tuple[Decision, str]:
        step = trial.last_step
        record = TrialRecord(trial)
        restarts = record.restarts
        if restarts and step is not None and step - restarts[-1]["epoch"] <= self._grace:
            return Decision.CONTINUE, f"grace after the restart at epoch {restarts[-1]['epoch']}"
        if not self._wrapped.prune(study, trial):
            return Decision.CONTINUE, f"{type(self._wrapped).__name__} keeps the trial"
        allowed = self._default_max if record.max_restarts is None else record.max_restarts
        last_train_step = record.train_epochs - 1
        if len(restarts) < allowed and step is not None and step < last_train_step:
            return Decision.RESTART, f"restart {len(restarts) + 1} of {allowed} instead of pruning"
        why = "no training epoch left" if len(restarts) < allowed else f"{len(restarts)} restarts"
        return Decision.STOP, f"pruned by {type(self._wrapped).__name__} after {why}"


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

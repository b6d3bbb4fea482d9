"""Every use of Optuna's private API, in one place.

``pyproject.toml`` caps Optuna to the minor version these are tested on
(``tests/test_pruner.py`` for the brackets, ``tests/test_workers.py`` for heartbeats).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.pruners import HyperbandPruner
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import get_heartbeat_thread

__all__ = ["bracket_id", "bracket_study", "heartbeat", "storage_of", "stored_trial"]


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage object behind ``study`` (Optuna offers no public accessor)."""
    return study._storage


def stored_trial(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """``trial`` as stored, read alone: ``study.get_trials`` would read every trial of the
    study, a cost per trial that grows with the study."""
    return storage_of(trial.study).get_trial(trial._trial_id)


def heartbeat(study: optuna.Study, trial: optuna.Trial) -> Any:
    """A context manager beating ``trial``'s heartbeat while a trial runs outside ``optimize``.

    ``Study.optimize`` does this itself; the ask-and-tell loop of the runner must do it
    for ``RetryHeartbeatStaleTrialCallback`` to see a killed worker's trial as stale.
    """
    return get_heartbeat_thread(trial._trial_id, study._storage)


def bracket_id(pruner: HyperbandPruner, study: optuna.Study, trial: Any) -> int:
    """Hyperband's bracket of ``trial`` (``HyperbandPruner._get_bracket_id``)."""
    return pruner._get_bracket_id(study, trial)  # type: ignore[attr-defined,no-any-return]


def bracket_study(pruner: HyperbandPruner, study: optuna.Study, bracket: int) -> optuna.Study:
    """The study seen from one bracket (``HyperbandPruner._create_bracket_study``)."""
    return pruner._create_bracket_study(study, bracket)  # type: ignore[attr-defined,no-any-return]

"""Every use of Optuna's private API, in one place.

``pyproject.toml`` caps Optuna to the minor version these are tested on
(``tests/test_pruner.py`` for the brackets, ``tests/test_workers.py`` for heartbeats).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import optuna
from optuna.pruners import HyperbandPruner
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import TrialState

__all__ = [
    "bracket_id",
    "bracket_study",
    "heartbeat",
    "storage_of",
    "stored_trial",
    "unbeaten_running_trials",
]


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


def unbeaten_running_trials(study: optuna.Study) -> list[int]:
    """Trial ids that are RUNNING, never beat, and started over the grace period ago.

    A worker whose claim lost its connection after the database had created the trial
    retries the claim and leaves that trial behind; so does one killed between the
    claim and its first beat. Optuna's stale check (``_get_stale_trial_ids``) skips a
    trial without a heartbeat row, so such a trial would stay RUNNING for ever and count
    toward the study's total. ``datetime_start`` is the claiming worker's clock.
    """
    cached = storage_of(study)
    storage = getattr(cached, "_backend", cached)  # the RDB storage under Optuna's cache
    if not isinstance(storage, RDBStorage) or storage.heartbeat_interval is None:
        return []
    interval = storage.heartbeat_interval
    cutoff = datetime.now() - timedelta(seconds=storage.grace_period or 2 * interval)
    with _create_scoped_session(storage.scoped_session) as session:
        running = (
            session.query(models.TrialModel)
            .filter(models.TrialModel.study_id == study._study_id)
            .filter(models.TrialModel.state == TrialState.RUNNING)
            .all()
        )
        return [
            int(t.trial_id)
            for t in running
            if not t.heartbeats and t.datetime_start is not None and t.datetime_start < cutoff
        ]


def bracket_id(pruner: HyperbandPruner, study: optuna.Study, trial: Any) -> int:
    """Hyperband's bracket of ``trial`` (``HyperbandPruner._get_bracket_id``)."""
    return pruner._get_bracket_id(study, trial)  # type: ignore[attr-defined,no-any-return]


def bracket_study(pruner: HyperbandPruner, study: optuna.Study, bracket: int) -> optuna.Study:
    """The study seen from one bracket (``HyperbandPruner._create_bracket_study``)."""
    return pruner._create_bracket_study(study, bracket)  # type: ignore[attr-defined,no-any-return]

"""A storage that rides out a database restart: calls that lose their connection are retried.

PostgreSQL restarted under a running study (``pg_ctlcluster ... restart``, a failover, a
network blip) breaks every open connection. Optuna's ``RDBStorage`` then raises from the
heartbeat thread and from the next report or ``tell``, and the worker dies with its trial.
:class:`ResilientRDBStorage` retries each storage call whose error is a lost or refused
connection, with backoff, for up to :data:`PATIENCE` seconds; the engine pings pooled
connections before use (``pool_pre_ping``), so the retry runs on a fresh one. Errors that
are not about the connection (a constraint, a finished trial) are raised at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

__all__ = ["PATIENCE", "ResilientRDBStorage", "is_connection_error", "retrying"]

#: Seconds a storage call keeps retrying a lost connection before it gives up.
PATIENCE = 90.0

T = TypeVar("T")


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a lost, closed or refused database connection."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError | InterfaceError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def retrying(call: Callable[..., T], patience: float = PATIENCE) -> Callable[..., T]:
    """``call``, retried with backoff (0.25 s doubling to 4 s) while its error is a lost
    connection and ``patience`` seconds have not passed."""

    @functools.wraps(call)
    def attempt(*args: Any, **kwargs: Any) -> T:
        deadline, delay = time.monotonic() + patience, 0.25
        while True:
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                if not is_connection_error(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 4.0)

    return attempt


class ResilientRDBStorage(optuna.storages.RDBStorage):
    """``RDBStorage`` whose every database call is :func:`retrying` (see the module)."""


_CALLS = (
    "check_trial_is_updatable", "create_new_study", "create_new_trial", "delete_study",
    "get_all_studies", "get_all_trials", "get_best_trial", "get_n_trials",
    "get_study_directions", "get_study_id_from_name", "get_study_name_from_id",
    "get_study_system_attrs", "get_study_user_attrs", "get_trial",
    "get_trial_id_from_study_id_trial_number", "get_trial_number_from_id", "get_trial_param",
    "get_trial_params", "get_trial_system_attrs", "get_trial_user_attrs", "record_heartbeat",
    "set_study_system_attr", "set_study_user_attr", "set_trial_intermediate_value",
    "set_trial_param", "set_trial_state_values", "set_trial_system_attr",
    "set_trial_user_attr", "_get_stale_trial_ids",
    # the private ones Optuna's _CachedStorage calls on its backend, bypassing the above
    "_create_new_trial", "_get_best_trial_id", "_get_trials", "_set_trial_param",
)  # fmt: skip
for _name in _CALLS:
    if hasattr(optuna.storages.RDBStorage, _name):
        setattr(ResilientRDBStorage, _name, retrying(getattr(optuna.storages.RDBStorage, _name)))

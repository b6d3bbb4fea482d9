"""The trial record: every user attribute tricksearch stores on a trial, written and read here.

The objective, runner and pruner write through :class:`TrialWriter`; the report,
dashboard, export, ablation, CLI and benchmarks read through :class:`TrialRecord`, whose
methods hold the derived quantities (the value or last report, the fine-tune's gain).
No other module spells an attribute's key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tricks.metrics import without_confusion

__all__ = ["AblationRun", "StudyRecord", "TrialRecord", "TrialWriter", "or_nan"]

TRICK_CONFIG = "trick_config"  # the sampled trick config, TrickConfig.to_dict()
MAX_RESTARTS = "max_restarts"  # for trials of other objectives: restarts the pruner may grant
RESTARTS = "restarts"  # RestartEvent.to_dict() of every restart, in order
RESUMED_AFTER = "resumed_after_epoch"  # a retry continued from this epoch's checkpoint
PRE_FINETUNE = "pre_finetune_value"  # the metric before the no-aug fine-tune
VAL_METRICS = "val_metrics"  # validation metrics after the fine-tune, no confusion matrix
CURVE = "curve"  # one row per epoch: epoch, phase, value, lr, loss, seconds
PRUNED_REASON = "pruned_reason"
FAIL_REASON = "fail_reason"
RECIPE = "recipe"  # {"name", "source"} of a warm-start trial (set when enqueued)
STARTUP = "startup_seconds"  # process start (torch imported) to the first epoch's end
HOOK_SECONDS = "after_trial_seconds"  # notes and artifacts after the trial
WORKER = "worker"  # host:pid that ran the trial
DEVICE = "device"  # what the trial trained on, in words (search.device.describe_device)


def or_nan(value: float | None) -> float:
    """A record value that may be absent, as a float for tables and JSON (NaN when absent)."""
    return math.nan if value is None else value


@dataclass(frozen=True)
class TrialRecord:
    """Read side of a trial's record (a finished or running ``FrozenTrial``)."""

    trial: FrozenTrial

    def _get(self, key: str, default: Any = None) -> Any:
        return self.trial.user_attrs.get(key, default)

    @property
    def trick_config(self) -> dict[str, Any] | None:
        return self._get(TRICK_CONFIG)

    @property
    def max_restarts(self) -> int | None:
        """Restarts the trial may take: its config's, else a ``max_restarts`` attribute."""
        cfg = self.trick_config
        return cfg["restart"]["max_restarts"] if cfg else self._get(MAX_RESTARTS)

    @property
    def train_epochs(self) -> float:
        """Main-phase epochs; infinite when unknown (an enqueued trial not yet sampled)."""
        cfg = self.trick_config
        return cfg["train"]["epochs"] if cfg else math.inf

    @property
    def restarts(self) -> list[dict[str, Any]]:
        return list(self._get(RESTARTS, []))

    @property
    def curve(self) -> list[dict[str, Any]]:
        return list(self._get(CURVE, []))

    @property
    def recipe(self) -> dict[str, str] | None:
        return self._get(RECIPE)

    @property
    def reason(self) -> str:
        """Why the trial failed or was pruned; empty when it did neither."""
        return self._get(FAIL_REASON) or self._get(PRUNED_REASON) or ""

    @property
    def pre_finetune_value(self) -> float | None:
        """The metric before the fine-tune; None if the trial never got there."""
        value = self._get(PRE_FINETUNE)
        return value if isinstance(value, float) and math.isfinite(value) else None

    @property
    def finetune_gain(self) -> float | None:
        """The fine-tune's change of the metric (value minus the value before it)."""
        pre = self.pre_finetune_value
        return None if pre is None or self.trial.value is None else self.trial.value - pre

    @property
    def final_value(self) -> float | None:
        """The trial's value, or its last report when it was pruned or stopped."""
        if self.trial.value is not None:
            return self.trial.value
        step = self.trial.last_step
        return None if step is None else self.trial.intermediate_values[step]

    def attr(self, key: str, default: Any = None) -> Any:
        """Any other stored value: ``startup_seconds``, ``after_trial_seconds``, ``worker``..."""
        return self._get(key, default)


class TrialWriter:
    """Write side of a live trial's record."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    @property
    def recipe(self) -> dict[str, str] | None:
        """The recipe a warm-start trial was enqueued with (see :mod:`search.recipes`)."""
        return self.trial.user_attrs.get(RECIPE)

    def config(self, trick_config: dict[str, Any]) -> None:
        """The sampled config; the pruner reads ``max_restarts`` and the epochs from it."""
        self.trial.set_user_attr(TRICK_CONFIG, trick_config)

    def restarts(self, events: list[dict[str, Any]]) -> None:
        self.trial.set_user_attr(RESTARTS, events)

    def resumed_after(self, epoch: int) -> None:
        self.trial.set_user_attr(RESUMED_AFTER, epoch)

    def result(self, pre_finetune_value: float, metrics: dict[str, Any]) -> None:
        self.trial.set_user_attr(PRE_FINETUNE, pre_finetune_value)
        self.trial.set_user_attr(VAL_METRICS, without_confusion(metrics))

    def curve(self, rows: list[dict[str, Any]]) -> None:
        self.trial.set_user_attr(CURVE, rows)

    def pruned(self, reason: str) -> None:
        self.trial.set_user_attr(PRUNED_REASON, reason)

    def failed(self, reason: str) -> None:
        self.trial.set_user_attr(FAIL_REASON, reason[:500])

    def startup(self, seconds: float) -> None:
        self.trial.set_user_attr(STARTUP, seconds)

    def hook_seconds(self, seconds: float) -> None:
        self.trial.set_user_attr(HOOK_SECONDS, seconds)

    def device(self, description: str) -> None:
        self.trial.set_user_attr(DEVICE, description)

    def worker(self, name: str) -> None:
        self.trial.set_user_attr(WORKER, name)

    def extra(self, key: str, value: Any) -> None:
        """A value outside tricksearch's own record (the benchmarks' test metric)."""
        self.trial.set_user_attr(key, value)


SPEC = "spec"  # the study file's tables the study was created from
SPEC_CHANGES = "spec_changes"  # accepted edits: [{"changed", "trials_before", "spec"}]
METRIC = "metric"  # the metric the values measure
WARM_START = "warm_start"  # the names of the recipes enqueued


class StudyRecord:
    """The study-level attributes: its definition, metric and warm start."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study

    @property
    def metric(self) -> str:
        return str(self.study.user_attrs.get(METRIC, "value"))

    @property
    def spec(self) -> dict[str, Any] | None:
        return self.study.user_attrs.get(SPEC)

    @property
    def spec_changes(self) -> list[dict[str, Any]]:
        return list(self.study.user_attrs.get(SPEC_CHANGES, []))

    @property
    def warm_start(self) -> list[str] | None:
        """The recipes enqueued, or None when the study never enqueued any."""
        return self.study.user_attrs.get(WARM_START)

    def define(self, spec: dict[str, Any], metric: str) -> None:
        self.study.set_user_attr(SPEC, spec)
        self.study.set_user_attr(METRIC, metric)

    def change(self, spec: dict[str, Any], changes: list[dict[str, Any]]) -> None:
        self.study.set_user_attr(SPEC_CHANGES, changes)
        self.study.set_user_attr(SPEC, spec)

    def warm_started(self, names: list[str]) -> None:
        self.study.set_user_attr(WARM_START, names)


@dataclass(frozen=True)
class AblationRun:
    """One training of an ablation companion study (``tricksearch ablate``), as stored."""

    source_trial: int  # the trial of the main study whose config is ablated
    arm: str  # "config" or the trick switched off
    change: str  # how the trick was switched off, in words
    seed: int  # offset added to the config's seed
    val: float
    test: float
    seconds: float
    trick_config: dict[str, Any]

    def attrs(self) -> dict[str, Any]:
        """The user attributes of the companion trial that stores this run."""
        return dict(vars(self))

    @classmethod
    def of(cls, trial: FrozenTrial) -> AblationRun:
        a = trial.user_attrs
        return cls(
            int(a["source_trial"]),
            str(a["arm"]),
            str(a["change"]),
            int(a["seed"]),
            float(a["val"]),
            float(a["test"]),
            float(a["seconds"]),
            dict(a["trick_config"]),
        )

    @property
    def key(self) -> tuple[int, str, int]:
        return self.source_trial, self.arm, self.seed

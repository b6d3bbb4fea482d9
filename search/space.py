"""The trick search space: define-by-run, conditional, with ranges from the study file."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import optuna

from search.errors import UsageError
from tricks.config import LOSS_KINDS, TrickConfig
from tricks.schedules import SCHEDULE_KINDS
from tricks.weights import WEIGHT_MODES

__all__ = ["PARAMS", "Param", "suggest_config", "validate_space"]


@dataclass(frozen=True)
class Param:
    """One searchable trick parameter: its kind and its valid bounds or choices."""

    kind: str  # "float", "log", "log1m" (1 - x on a log scale), "int" or "choice"
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[Any, ...] = ()
    help: str = ""


PARAMS: dict[str, Param] = {
    "loss_kind": Param("choice", choices=LOSS_KINDS, help="loss function"),
    "focal_gamma": Param("float", 0.0, 10.0, help="focusing parameter (focal kinds)"),
    "focal_alpha": Param("float", 0.0, 1.0, help="positive weight (sigmoid_focal)"),
    "weight_mode": Param("choice", choices=WEIGHT_MODES, help="class weights (weighted kinds)"),
    "weight_power": Param("float", 0.0, 2.0, help="exponent of inverse-frequency weights"),
    "weight_beta": Param("log1m", 0.0, 0.99999, help="effective-number beta"),
    "deferred_weights": Param("choice", choices=(False, True), help="weights only late (DRW)"),
    "lr": Param("log", 1e-6, 10.0, help="peak learning rate"),
    "schedule_kind": Param("choice", choices=SCHEDULE_KINDS, help="decay after warmup"),
    "warmup_fraction": Param("float", 0.0, 0.5, help="warmup steps / training steps"),
    "phase_fraction": Param("float", 0.05, 1.0, help="decay-end step / training steps"),
    "restart_lr_factor": Param("log", 0.01, 10.0, help="LR multiplier at a restart"),
    "max_restarts": Param("int", 0, 10, help="restarts allowed per trial"),
    "plateau_patience": Param("int", 0, 100, help="epochs without gain before a restart"),
    "finetune_epochs": Param("int", 0, 50, help="no-aug fine-tune epochs"),
    "finetune_lr_factor": Param("log", 1e-6, 1.0, help="fine-tune LR / peak LR"),
}

#: Fixed settings that may sit in ``[space]`` beside the ranges.
SETTINGS = {"defer_at": (0.0, 1.0)}


def _fail(key: str, message: str) -> None:
    raise UsageError(f"space.{key}: {message}")


def validate_space(raw: Any) -> dict[str, Any]:
    """Check the ``[space]`` table: ranges ``[low, high]``, choice lists, known names.

    Raises:
        UsageError: Unknown parameter, wrong type, inverted or out-of-bounds range,
            unknown choice. The message names the key.
    """
    if not isinstance(raw, dict):
        raise UsageError(f"space: expected a table, got {raw!r}")
    space: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SETTINGS:
            lo, hi = SETTINGS[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value < hi:
                _fail(key, f"expected a number in ({lo}, {hi}), got {value!r}")
            space[key] = float(value)
            continue
        if key not in PARAMS:
            valid = ", ".join([*PARAMS, *SETTINGS])
            _fail(key, f"unknown parameter; valid: {valid}")
        param = PARAMS[key]
        if param.kind == "choice":
            if not isinstance(value, list) or not value:
                _fail(key, f"expected a non-empty list of choices, got {value!r}")
            bad = [
                v for v in value if v not in param.choices or type(v) is not type(param.choices[0])
            ]
            if bad:
                _fail(
                    key, f"unknown choice {bad[0]!r}; valid: {', '.join(map(str, param.choices))}"
                )
            space[key] = list(dict.fromkeys(value))
            continue
        numeric = (int,) if param.kind == "int" else (int, float)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, numeric) for v in value)
        ):
            kind = "integers" if param.kind == "int" else "numbers"
            _fail(key, f"expected a range [low, high] of {kind}, got {value!r}")
        low, high = value
        if low > high:
            _fail(key, f"inverted range [{low}, {high}]: low must be <= high")
        if low < param.low or high > param.high:
            _fail(key, f"range [{low}, {high}] outside the valid [{param.low}, {param.high}]")
        space[key] = [low, high]
    return space


def _suggest(trial: optuna.Trial, space: dict[str, Any], name: str, default: Any) -> Any:
    if name not in space:
        return default
    param, value = PARAMS[name], space[name]
    if param.kind == "choice":
        return trial.suggest_categorical(name, value)
    low, high = value
    if param.kind == "int":
        return trial.suggest_int(name, low, high)
    if param.kind == "log1m":
        # beta near 1 matters on a log scale of 1 - beta: 0.9, 0.99, 0.999, 0.9999 are
        # equally far apart (Cui et al. 2019 search beta in exactly these steps).
        gap_low, gap_high = 1 - high, 1 - low
        if gap_low <= 0 or gap_low == gap_high:
            return high if gap_low == gap_high else trial.suggest_float(name, low, high)
        return 1 - trial.suggest_float(f"{name}_gap", gap_low, gap_high, log=True)
    return trial.suggest_float(name, low, high, log=param.kind == "log" and low > 0)


def suggest_config(
    trial: optuna.Trial, space: dict[str, Any], base: TrickConfig, steps_per_epoch: int
) -> TrickConfig:
    """Sample one trick config: ``base`` with the searched values of ``space``.

    Conditional parameters are only sampled where they matter: focal gamma for
    focal kinds, alpha for ``sigmoid_focal``, class-weight mode, power/beta and
    deferral for weighted kinds. Warmup and phase are sampled as fractions of the
    training steps and stored as steps.
    """
    cfg = copy.deepcopy(base)
    loss = cfg.loss
    loss.kind = _suggest(trial, space, "loss_kind", loss.kind)
    if "focal" in loss.kind:
        loss.focal_gamma = _suggest(trial, space, "focal_gamma", loss.focal_gamma)
    if loss.kind == "sigmoid_focal":
        loss.focal_alpha = _suggest(trial, space, "focal_alpha", loss.focal_alpha)
    if loss.weighted:
        loss.weight_mode = _suggest(trial, space, "weight_mode", loss.weight_mode)
        if loss.weight_mode == "inverse":
            loss.weight_power = _suggest(trial, space, "weight_power", loss.weight_power)
        else:
            loss.weight_beta = _suggest(trial, space, "weight_beta", loss.weight_beta)
        if _suggest(trial, space, "deferred_weights", False):
            loss.weights_from_epoch = min(
                cfg.train.epochs - 1, round(space.get("defer_at", 0.75) * cfg.train.epochs)
            )
        elif "deferred_weights" in space:
            loss.weights_from_epoch = 0
    cfg.train.lr = _suggest(trial, space, "lr", cfg.train.lr)
    cfg.schedule.kind = _suggest(trial, space, "schedule_kind", cfg.schedule.kind)
    total = cfg.train.epochs * steps_per_epoch
    if "warmup_fraction" in space:
        cfg.schedule.warmup_steps = round(_suggest(trial, space, "warmup_fraction", 0.0) * total)
    if "phase_fraction" in space:
        phase = round(_suggest(trial, space, "phase_fraction", 1.0) * total)
        cfg.schedule.phase_steps = max(phase, cfg.schedule.warmup_steps + 1)
    if cfg.schedule.phase_steps and cfg.schedule.phase_steps <= cfg.schedule.warmup_steps:
        cfg.schedule.phase_steps = cfg.schedule.warmup_steps + 1
    restart = cfg.restart
    restart.max_restarts = _suggest(trial, space, "max_restarts", restart.max_restarts)
    if restart.max_restarts > 0:
        restart.lr_factor = _suggest(trial, space, "restart_lr_factor", restart.lr_factor)
        restart.patience = _suggest(trial, space, "plateau_patience", restart.patience)
    cfg.finetune.epochs = _suggest(trial, space, "finetune_epochs", cfg.finetune.epochs)
    if cfg.finetune.epochs > 0:
        cfg.finetune.lr_factor = _suggest(
            trial, space, "finetune_lr_factor", cfg.finetune.lr_factor
        )
    cfg.validate()
    return cfg

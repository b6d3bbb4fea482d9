"""The trick search space: define-by-run, conditional, with ranges from the study file."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from optuna.trial import BaseTrial

from search.errors import UsageError
from tricks.config import TrickConfig
from tricks.schema import field_choices, search_marks

__all__ = ["PARAMS", "Param", "check_space_fits", "suggest_config", "validate_space"]


@dataclass(frozen=True)
class Param:
    """One searchable trick parameter, read from its field's :class:`~tricks.schema.Search`."""

    key: str  # the trick-config field it sets, "section.name"
    kind: str  # "float", "log", "log1m" (1 - x on a log scale), "int" or "choice"
    low: float = -math.inf
    high: float = math.inf
    choices: tuple[Any, ...] = ()
    help: str = ""
    when: str = "always"


def _params() -> dict[str, Param]:
    params = {}
    for key, info, mark in search_marks(TrickConfig):
        params[mark.key] = Param(
            key=key,
            kind=mark.scale,
            low=mark.low,
            high=mark.high,
            choices=mark.choices or field_choices(info),
            help=mark.help or info.description or "",
            when=mark.when,
        )
    return params


#: The searchable parameters by ``[space]`` key, derived from the trick-config schema.
PARAMS: dict[str, Param] = _params()

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


def check_space_fits(space: dict[str, Any], base: TrickConfig) -> None:
    """Reject a ``[space]`` key the base config cannot use, before any trial runs.

    Raises:
        UsageError: ``model_width`` searched for a model other than ``small_cnn``.
    """
    if "model_width" in space and not base.model.has_width:
        _fail(
            "model_width",
            f"searches small_cnn's width only, not model {base.model.name!r}; remove it",
        )


def _suggest(trial: BaseTrial, space: dict[str, Any], name: str, default: Any) -> Any:
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


def _draw(trial: BaseTrial, space: dict[str, Any], cfg: TrickConfig, name: str) -> Any:
    """Sample ``name`` if the study searches it, set its field, and return the field's value."""
    section, field = PARAMS[name].key.split(".")
    table = getattr(cfg, section)
    setattr(table, field, _suggest(trial, space, name, getattr(table, field)))
    return getattr(table, field)


def _draw_loss(trial: BaseTrial, space: dict[str, Any], cfg: TrickConfig) -> None:
    kind = _draw(trial, space, cfg, "loss_kind")
    if "focal" in kind:
        _draw(trial, space, cfg, "focal_gamma")
    if kind == "sigmoid_focal":
        _draw(trial, space, cfg, "focal_alpha")
    if not cfg.loss.weighted:
        return
    if _draw(trial, space, cfg, "weight_mode") == "inverse":
        _draw(trial, space, cfg, "weight_power")
    else:
        _draw(trial, space, cfg, "weight_beta")
    if _suggest(trial, space, "deferred_weights", False):
        at = round(space.get("defer_at", 0.75) * cfg.train.epochs)
        cfg.loss.weights_from_epoch = min(cfg.train.epochs - 1, at)
    elif "deferred_weights" in space:
        cfg.loss.weights_from_epoch = 0


def _draw_schedule(
    trial: BaseTrial, space: dict[str, Any], cfg: TrickConfig, steps_per_epoch: int
) -> None:
    _draw(trial, space, cfg, "schedule_kind")
    schedule, total = cfg.schedule, cfg.train.epochs * steps_per_epoch
    if "warmup_fraction" in space:
        schedule.warmup_steps = round(_suggest(trial, space, "warmup_fraction", 0.0) * total)
    if "phase_fraction" in space:
        schedule.phase_steps = round(_suggest(trial, space, "phase_fraction", 1.0) * total)
    if schedule.phase_steps and schedule.phase_steps <= schedule.warmup_steps:
        schedule.phase_steps = schedule.warmup_steps + 1


def suggest_config(
    trial: BaseTrial, space: dict[str, Any], base: TrickConfig, steps_per_epoch: int
) -> TrickConfig:
    """Sample one trick config: ``base`` with the searched values of ``space``.

    Conditional parameters are only sampled where they matter (each :class:`Param`'s
    ``when``): focal gamma for focal kinds, alpha for ``sigmoid_focal``, class-weight
    mode, power/beta and deferral for weighted kinds, the restart factor and patience
    when restarts are allowed, the fine-tune LR when there is a fine-tune, the width for
    the small CNN (the only model with one; ``check_space_fits`` rejects it otherwise).
    Warmup and phase are sampled as fractions of the training steps and stored as steps.
    """
    cfg = copy.deepcopy(base)
    if cfg.model.has_width:
        _draw(trial, space, cfg, "model_width")
    _draw(trial, space, cfg, "lr")
    _draw(trial, space, cfg, "weight_decay")
    _draw_loss(trial, space, cfg)
    _draw_schedule(trial, space, cfg, steps_per_epoch)
    if _draw(trial, space, cfg, "max_restarts") > 0:
        _draw(trial, space, cfg, "restart_lr_factor")
        _draw(trial, space, cfg, "plateau_patience")
    if _draw(trial, space, cfg, "finetune_epochs") > 0:
        _draw(trial, space, cfg, "finetune_lr_factor")
    cfg.check()
    return cfg

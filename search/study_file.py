"""Study definitions (``studies/*.toml``): load, override and validate."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from search.errors import UsageError
from search.space import validate_space
from tricks.config import METRICS, ConfigError, TrickConfig, apply_overrides, read_toml

__all__ = ["DEFAULT_STORAGE", "StudySpec", "load_study_file", "make_pruner", "make_sampler"]

DEFAULT_STORAGE = "sqlite:///tricksearch.db"
_STUDY_KEYS = {"name", "direction", "metric", "n_trials", "timeout", "storage", "warm_start"}
_PLUGIN_KEYS = {"name", "kwargs"}
_PRUNER_KEYS = {"name", "kwargs", "grace_epochs"}
_TRICK_SECTIONS = {"data", "model", "train", "loss", "schedule", "restart", "finetune"}
_EXCLUDED_PRUNERS = {"BasePruner", "PatientPruner"}


@dataclass
class StudySpec:
    """A validated study file."""

    name: str
    base: TrickConfig
    space: dict[str, Any]
    direction: str = "maximize"
    metric: str = "balanced_accuracy"
    n_trials: int = 20
    timeout: float = 0.0
    storage: str = DEFAULT_STORAGE
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "TPESampler", "kwargs": {}})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "MedianPruner", "kwargs": {}})
    grace_epochs: int = 1
    warm_start: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The study file's tables, as stored on the study for provenance."""
        out = {k: v for k, v in self.base.to_dict().items() if k in _TRICK_SECTIONS}
        out["study"] = {
            "name": self.name,
            "direction": self.direction,
            "metric": self.metric,
            "n_trials": self.n_trials,
            "timeout": self.timeout,
            "warm_start": self.warm_start,
        }
        out["sampler"] = self.sampler
        out["pruner"] = {**self.pruner, "grace_epochs": self.grace_epochs}
        out["space"] = self.space
        return out


def _table(raw: dict[str, Any], key: str, allowed: set[str]) -> dict[str, Any]:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise UsageError(f"{key}: expected a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UsageError(
            f"{key}.{unknown[0]}: unknown key; valid keys: {', '.join(sorted(allowed))}"
        )
    return table


def _classes(module: Any, base: type, exclude: set[str]) -> dict[str, type]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, base)
        and name not in exclude
        and not name.startswith("_")
    }


def _plugin(section: str, name: Any, kwargs: Any, valid: dict[str, type]) -> Any:
    if not isinstance(name, str) or name not in valid:
        raise UsageError(
            f"{section}.name: unknown {section} {name!r}; valid: {', '.join(sorted(valid))}"
        )
    if not isinstance(kwargs, dict):
        raise UsageError(f"{section}.kwargs: expected a table, got {kwargs!r}")
    try:
        return valid[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{section}.kwargs: {name}: {exc}") from None


def sampler_classes() -> dict[str, type]:
    return _classes(optuna.samplers, optuna.samplers.BaseSampler, {"BaseSampler"})


def pruner_classes() -> dict[str, type]:
    return _classes(optuna.pruners, optuna.pruners.BasePruner, _EXCLUDED_PRUNERS)


#: TPE defaults for a conditional space searched by several workers: model the joint
#: density of the parameters (``multivariate``), split it by which parameters a trial
#: has (``group``), and treat running trials as bad (``constant_liar``) so that workers
#: do not sample the same region side by side (Watanabe, "Tree-structured Parzen
#: estimator", 2023, https://arxiv.org/abs/2304.11127). A study file's kwargs win.
TPE_DEFAULTS = {"multivariate": True, "group": True, "constant_liar": True}


def make_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler named in the study file; ``seed`` is passed when the class takes one.

    A ``TPESampler`` gets :data:`TPE_DEFAULTS` unless the file sets them.
    """
    kwargs = dict(spec.sampler.get("kwargs", {}))
    if spec.sampler["name"] == "TPESampler":
        kwargs = {**TPE_DEFAULTS, **kwargs}
        kwargs["group"] = kwargs["group"] and kwargs["multivariate"]  # group needs multivariate
    cls = sampler_classes().get(spec.sampler["name"])
    if seed is not None and cls is not None and "seed" in inspect.signature(cls).parameters:
        kwargs.setdefault("seed", seed)
    return _plugin("sampler", spec.sampler["name"], kwargs, sampler_classes())


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The pruner named in the study file, not yet wrapped."""
    return _plugin("pruner", spec.pruner["name"], spec.pruner.get("kwargs", {}), pruner_classes())


def _int(value: Any, key: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UsageError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value


def parse_study(raw: dict[str, Any]) -> StudySpec:
    """Validate the tables of a study file.

    Raises:
        UsageError: Any problem, with the key in the message.
    """
    allowed = {"study", "sampler", "pruner", "space"} | _TRICK_SECTIONS
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise UsageError(f"{unknown[0]}: unknown section; valid: {', '.join(sorted(allowed))}")
    study = _table(raw, "study", _STUDY_KEYS)
    sampler = _table(raw, "sampler", _PLUGIN_KEYS)
    pruner = _table(raw, "pruner", _PRUNER_KEYS)
    name = study.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"study.name: expected a non-empty string, got {name!r}")
    direction = study.get("direction", "maximize")
    if direction != "maximize":
        raise UsageError(
            f"study.direction: only 'maximize' is supported, got {direction!r}: every metric "
            f"({', '.join(METRICS)}) is larger-is-better, and restarts and plateaus maximise it"
        )
    metric = study.get("metric", "balanced_accuracy")
    if metric not in METRICS:
        raise UsageError(f"study.metric: unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    timeout = study.get("timeout", 0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
        raise UsageError(f"study.timeout: expected seconds >= 0, got {timeout!r}")
    warm_start = study.get("warm_start", True)
    if not isinstance(warm_start, bool):
        raise UsageError(f"study.warm_start: expected true or false, got {warm_start!r}")
    storage = study.get("storage", DEFAULT_STORAGE)
    if not isinstance(storage, str) or not storage:
        raise UsageError(f"study.storage: expected a storage URL, got {storage!r}")
    tricks = {k: raw[k] for k in _TRICK_SECTIONS if k in raw}
    tricks.setdefault("train", {})
    if isinstance(tricks["train"], dict):
        tricks["train"] = {**tricks["train"], "metric": metric}
    try:
        base = TrickConfig.from_dict(tricks)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    spec = StudySpec(
        name=name,
        base=base,
        space=validate_space(raw.get("space", {})),
        direction=direction,
        metric=metric,
        n_trials=_int(study.get("n_trials", 20), "study.n_trials", 1),
        timeout=float(timeout),
        storage=storage,
        sampler={"name": sampler.get("name", "TPESampler"), "kwargs": sampler.get("kwargs", {})},
        pruner={"name": pruner.get("name", "MedianPruner"), "kwargs": pruner.get("kwargs", {})},
        grace_epochs=_int(pruner.get("grace_epochs", 1), "pruner.grace_epochs", 0),
        warm_start=warm_start,
    )
    make_sampler(spec)  # fail early on unknown names or bad keyword arguments
    make_pruner(spec)
    return spec


def load_study_file(path: str | Path, overrides: list[str] | None = None) -> StudySpec:
    """Read, override (``--set section.key=value``) and validate a study file.

    Raises:
        UsageError: Missing or malformed file, or any invalid value; names the file and key.
    """
    try:
        raw = read_toml(path, "study file")
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    try:
        raw = apply_overrides(raw, overrides or [])
        return parse_study(raw)
    except (UsageError, ConfigError) as exc:
        raise UsageError(f"{path}: {exc}") from None

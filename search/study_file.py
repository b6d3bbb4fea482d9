"""Study definitions (``studies/*.toml``): load, override and validate."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from pydantic import Field, ValidationError, field_validator

from search.defaults import DEFAULT_STORAGE
from search.errors import UsageError
from search.space import check_space_fits, validate_space
from tricks.config import (
    METRICS,
    ConfigError,
    Metric,
    TrickConfig,
    TrickSections,
    apply_overrides,
    read_toml,
)
from tricks.schema import Section, describe

__all__ = ["DEFAULT_STORAGE", "StudySpec", "load_study_file", "make_pruner", "make_sampler"]

_TRICK_SECTIONS = set(TrickSections.model_fields)
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
    budget: str = ""  # "1300ep", "90m": search.budget

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
            "budget": self.budget,
        }
        out["sampler"] = self.sampler
        out["pruner"] = {**self.pruner, "grace_epochs": self.grace_epochs}
        out["space"] = self.space
        return out


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


_ONLY_MAXIMIZE = (
    f"only 'maximize' is supported: every metric ({', '.join(METRICS)}) is "
    "larger-is-better, and restarts and plateaus maximise it"
)


class StudyTable(Section):
    """``[study]``: the study's name, goal and budget."""

    name: str = Field(min_length=1, pattern=r"\S", description="study name in the storage")
    direction: str = Field("maximize", description="only maximize: every metric is a score")
    metric: Metric = Field("balanced_accuracy", description="the objective (validation)")
    n_trials: int = Field(20, ge=1, description="trials to finish (counted over all runs)")
    timeout: float = Field(0.0, ge=0, description="seconds for this run (0 = no limit)")
    storage: str = Field(DEFAULT_STORAGE, min_length=1, description="Optuna storage URL")
    warm_start: bool = Field(True, description="enqueue the literature recipes first")
    fit: str = Field("", description="your fit function; sets `train.fit` (see there)")
    budget: str = Field(
        "",
        description="epochs (`1300ep`) or training time (`90m`; summed over workers) for "
        "search + final",
    )

    @field_validator("direction")
    @classmethod
    def _maximize(cls, direction: str) -> str:
        if direction != "maximize":
            raise ValueError(f"{_ONLY_MAXIMIZE}; got {direction!r}")
        return direction


class SamplerTable(Section):
    """``[sampler]``: an ``optuna.samplers`` class and its keyword arguments."""

    name: str = Field("TPESampler", description="class name in optuna.samplers")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments")


class PrunerTable(Section):
    """``[pruner]``: an ``optuna.pruners`` class, its arguments and the grace period."""

    name: str = Field("MedianPruner", description="class name in optuna.pruners")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments")
    grace_epochs: int = Field(1, ge=0, description="epochs before a poor trial may restart")


class StudyFile(TrickSections):
    """A whole study file: the study tables, the search space and the base trick config."""

    study: StudyTable
    sampler: SamplerTable = Field(default_factory=SamplerTable)
    pruner: PrunerTable = Field(default_factory=PrunerTable)
    space: dict[str, Any] = Field(default_factory=dict)


def parse_study(raw: dict[str, Any]) -> StudySpec:
    """Validate the tables of a study file.

    Raises:
        UsageError: Any problem, with the key in the message.
    """
    try:
        parsed = StudyFile.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(describe(exc, StudyFile)) from None
    study = parsed.study
    tricks = parsed.model_dump(include=_TRICK_SECTIONS)
    tricks["train"]["metric"] = study.metric
    if study.fit:
        tricks["train"]["fit"] = study.fit
    try:
        base = TrickConfig.from_dict(tricks)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    spec = StudySpec(
        name=study.name,
        base=base,
        space=validate_space(parsed.space),
        direction=study.direction,
        metric=study.metric,
        n_trials=study.n_trials,
        timeout=study.timeout,
        storage=study.storage,
        sampler=parsed.sampler.model_dump(exclude={"grace_epochs"}),
        pruner=parsed.pruner.model_dump(exclude={"grace_epochs"}),
        grace_epochs=parsed.pruner.grace_epochs,
        warm_start=study.warm_start,
        budget=study.budget,
    )
    check_space_fits(spec.space, base)
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

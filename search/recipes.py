"""Warm start: the long-tail literature's recipes as a new study's first trials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from search.record import RECIPE
from search.space import PARAMS
from tricks.config import TrickConfig

__all__ = ["RECIPES", "TRAINING", "Recipe", "enqueue_recipes", "recipe_params"]


@dataclass(frozen=True)
class Recipe:
    """A published way to train on long-tailed data, as values of the search space.

    ``loss`` holds the values that define the recipe: a study whose space (or fixed
    config) cannot express one of them does not get the recipe.
    """

    name: str
    source: str
    loss: dict[str, Any]


RECIPES = (
    Recipe("plain CE", "the unweighted baseline", {"loss_kind": "ce"}),
    Recipe(
        "CE + inverse-sqrt class weights",
        "square-root re-weighting, Mahajan et al., ECCV 2018",
        {
            "loss_kind": "weighted_ce",
            "weight_mode": "inverse",
            "weight_power": 0.5,
            "deferred_weights": False,
        },
    ),
    Recipe(
        "balanced softmax",
        "Ren et al., Balanced Meta-Softmax, NeurIPS 2020",
        {"loss_kind": "balanced_softmax"},
    ),
    Recipe(
        "deferred re-weighting",
        "Cao et al., LDAM-DRW, NeurIPS 2019 (effective-number weights, beta 0.9999, late)",
        {
            "loss_kind": "weighted_ce",
            "weight_mode": "effective",
            "weight_beta": 0.9999,
            "deferred_weights": True,
        },
    ),
    Recipe(
        "class-balanced focal loss",
        "Lin et al., ICCV 2017 (gamma 2); Cui et al., CVPR 2019 (beta 0.9999)",
        {
            "loss_kind": "weighted_focal",
            "focal_gamma": 2.0,
            "weight_mode": "effective",
            "weight_beta": 0.9999,
            "deferred_weights": False,
        },
    ),
)

#: The training every recipe shares, as typed by hand: SGD at 0.1 with a short linear
#: warmup and a full cosine decay, no restarts, and the folklore's 4-epoch fine-tune at
#: 1/100 of the peak LR. Values outside a study's range are moved to the nearest bound.
#: The model is the user's own: a searched ``model_width`` is set to ``model.width``.
TRAINING: dict[str, Any] = {
    "lr": 0.1,
    "schedule_kind": "cosine",
    "warmup_fraction": 0.05,
    "phase_fraction": 1.0,
    "max_restarts": 0,
    "finetune_epochs": 4,
    "finetune_lr_factor": 0.01,
}


def _fixed_value(base: TrickConfig, key: str) -> Any:
    loss = base.loss
    return {
        "loss_kind": loss.kind,
        "weight_mode": loss.weight_mode,
        "weight_power": loss.weight_power,
        "weight_beta": loss.weight_beta,
        "deferred_weights": loss.weights_from_epoch > 0,
        "focal_gamma": loss.focal_gamma,
    }[key]


def _fits(value: Any, allowed: Any, kind: str) -> bool:
    if kind == "choice":
        return value in allowed
    low, high = allowed
    return bool(low <= value <= high)


def _param(name: str, value: Any) -> tuple[str, Any]:
    """The Optuna parameter name and value for a space value (beta is sampled as 1 - beta)."""
    if PARAMS[name].kind == "log1m":
        return f"{name}_gap", 1 - value
    return name, value


def recipe_params(recipe: Recipe, space: dict[str, Any], base: TrickConfig) -> dict | None:
    """The recipe as Optuna parameters of a study with ``space``, or None if it cannot fit."""
    params: dict[str, Any] = {}
    for key, value in recipe.loss.items():
        if key not in space:
            if _fixed_value(base, key) != value:
                return None
            continue
        if not _fits(value, space[key], PARAMS[key].kind):
            return None
        name, v = _param(key, value)
        params[name] = v
    as_typed = {**TRAINING, "model_width": base.model.width}  # the user's own model
    for key, value in as_typed.items():
        if key not in space:
            continue
        if PARAMS[key].kind == "choice":
            if value in space[key]:
                params[key] = value
            continue
        low, high = space[key]
        params[key] = type(low)(min(max(value, low), high))
    return params


def enqueue_recipes(study: optuna.Study, space: dict[str, Any], base: TrickConfig) -> list[str]:
    """Enqueue every recipe that fits the study; each carries its record's ``recipe``.

    Returns:
        The names of the recipes enqueued, in order.
    """
    names = []
    for recipe in RECIPES:
        params = recipe_params(recipe, space, base)
        if params is None:
            continue
        attrs = {RECIPE: {"name": recipe.name, "source": recipe.source}}
        study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=True)
        names.append(recipe.name)
    return names

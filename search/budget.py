"""A budget in, a model out: the search spends a share of it, the best config trains on the rest.

``tricksearch run STUDY --budget 1300ep`` (or ``90m``, ``3h``; ``[study] budget``) lets the
search claim trials while they fit in :data:`SEARCH_SHARE` of the budget, then retrains the
validation-best config, stretched as ``train --epochs`` stretches it, for what is left, and
writes the final model, its metrics, the exported config and the report to one folder. The
benchmark measured retraining the search's pick as where the accuracy comes from
(``docs/results/search-efficiency.md``: 88.81% against the pick's own 88.16% at 1300 epochs,
with the search at 85%).

Epochs are counted as the benchmark counts them: every epoch a finished trial ran, training
and fine-tune. A time budget counts the seconds of those epochs (one worker's wall time;
with N workers, worker-seconds), and the final training's epochs come from the pick's own
measured epoch time.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from search.errors import UsageError
from search.record import TrialRecord

if TYPE_CHECKING:
    from tricks.config import TrickConfig

__all__ = [
    "SEARCH_SHARE",
    "Budget",
    "final_epochs",
    "finish",
    "may_claim",
    "most_epochs",
    "parse_budget",
    "search_progress",
    "spent",
]

#: The search's share of the budget; the rest retrains its pick (measured best, 85%).
SEARCH_SHARE = 0.85

_EPOCHS = ("ep", "epoch", "epochs")
_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Budget:
    """``amount`` epochs, or ``amount`` seconds when ``in_seconds``."""

    amount: float
    in_seconds: bool

    def __str__(self) -> str:
        return _duration(self.amount) if self.in_seconds else f"{self.amount:g} epochs"


def parse_budget(text: str, trial_epochs: int) -> Budget:
    """``1300ep``, ``1300 epochs``, ``90m``, ``3h``, ``45s``.

    Raises:
        UsageError: Not understood, not positive, or smaller than one trial's epochs.
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-z]+)\s*", text.lower())
    unit = match.group(2) if match else ""
    if unit not in _EPOCHS and unit not in _SECONDS:
        raise UsageError(f"budget: {text!r} is not understood; use e.g. 1300ep, 90m or 3h")
    value = float(match.group(1)) if match else 0.0
    if value <= 0:
        raise UsageError(f"budget: must be above zero, got {text!r}")
    if unit in _EPOCHS:
        if value < trial_epochs:
            raise UsageError(
                f"budget: {text!r} is less than one trial's {trial_epochs} epochs "
                "(training and fine-tune)"
            )
        return Budget(value, False)
    return Budget(value * _SECONDS[unit], True)


def most_epochs(tables: dict[str, Any]) -> int:
    """The most epochs one trial of a study (its file's tables) runs: training and the
    fine-tune, at the widest ``finetune_epochs`` its space searches."""
    train = int(tables.get("train", {}).get("epochs", 10))
    finetune = int(tables.get("finetune", {}).get("epochs", 4))
    searched = tables.get("space", {}).get("finetune_epochs")
    return train + max(finetune, int(searched[1]) if searched else 0)


def spent(trials: list[optuna.trial.FrozenTrial]) -> tuple[int, float]:
    """Epochs and seconds of the finished trials' curves (every epoch they ran)."""
    curves = [TrialRecord(t).curve for t in trials if t.state in _FINISHED]
    return sum(len(c) for c in curves), sum(r.get("seconds", 0.0) for c in curves for r in c)


def search_progress(trials: list[optuna.trial.FrozenTrial], budget: Budget) -> str:
    """How much of the search's share the finished trials have spent, for the progress lines."""
    epochs, seconds = spent(trials)
    limit = SEARCH_SHARE * budget.amount
    if budget.in_seconds:
        done = f"{_duration(seconds)} of {_duration(limit)}"
    else:
        done = f"{epochs} of {limit:.0f} epochs"
    share = (seconds if budget.in_seconds else epochs) / limit
    return f"budget: search {done} ({share:.0%}); the rest trains its pick"


def _duration(seconds: float) -> str:
    """``45 s``, ``90 min``, ``12.5 min``, ``3 h``: seconds under two minutes, minutes
    under two hours, hours above."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def may_claim(study: optuna.Study, budget: Budget, most_epochs: int) -> bool:
    """Whether another trial fits in the search's share, with the running ones counted full."""
    trials = study.get_trials(deepcopy=False)
    epochs, seconds = spent(trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    limit = SEARCH_SHARE * budget.amount
    if not budget.in_seconds:
        return epochs + (running + 1) * most_epochs <= limit
    per_trial = [sum(r.get("seconds", 0.0) for r in TrialRecord(t).curve) for t in trials]
    typical = statistics.median([s for s in per_trial if s > 0] or [0.0])
    return seconds + (running + 1) * typical <= limit


def final_epochs(
    study: optuna.Study, budget: Budget, pick: optuna.trial.FrozenTrial, finetune_epochs: int
) -> int:
    """Training epochs the rest of the budget buys for the final model.

    In time, an epoch costs what the pick's own epochs cost on average after its first,
    which also holds the trial's set-up (a wider model's are slower than the study's
    median), and one epoch is held back so that the final training's
    spread of epoch times ends within the budget rather than past it."""
    epochs, seconds = spent(study.get_trials(deepcopy=False))
    if not budget.in_seconds:
        return int(budget.amount - epochs) - finetune_epochs
    own = [r["seconds"] for r in TrialRecord(pick).curve if r.get("seconds")]
    own = own[1:] if len(own) > 1 else own  # the first also holds the set-up (a process's start)
    per_epoch = statistics.mean(own) if own else _median_epoch(study)
    return int((budget.amount - seconds) / per_epoch) - 1 - finetune_epochs


def _median_epoch(study: optuna.Study) -> float:
    return statistics.median(
        r["seconds"]
        for t in study.get_trials(deepcopy=False, states=_FINISHED)
        for r in TrialRecord(t).curve
        if r.get("seconds")
    )


def _same_config(path: Path, final: TrickConfig) -> bool:
    """Whether the config saved at ``path`` is ``final`` (its export time aside)."""
    if not path.is_file():
        return False

    def trained_as(raw: dict[str, Any]) -> dict[str, Any]:
        provenance = {k: v for k, v in raw.get("provenance", {}).items() if k != "exported_at"}
        return {**raw, "provenance": provenance}

    try:
        saved = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):  # edited or torn: not it
        return False
    return trained_as(saved) == trained_as(final.to_dict())


def _prepare(output: Path, final: TrickConfig) -> dict[str, Any] | None:
    """The metrics of ``output``'s finished training of ``final``, if there is one
    (``metrics.json`` is written last; ``best.toml`` says which config it trained). A
    folder left by another config (another budget) loses its checkpoint and metrics, so
    that training starts over instead of resuming the other config's weights."""
    if _same_config(output / "best.toml", final):
        metrics = output / "metrics.json"
        return dict(json.loads(metrics.read_text())) if metrics.is_file() else None
    output.mkdir(parents=True, exist_ok=True)
    for stale in ("checkpoint.pt", "metrics.json"):
        (output / stale).unlink(missing_ok=True)
    final.save(output / "best.toml")
    return None


def finish(
    study: optuna.Study,
    storage: str,
    budget: Budget,
    output: Path,
    device: str,
    data_dir: str | None,
) -> dict[str, Any]:
    """Retrain the validation-best config on the rest of the budget; write the model, its
    metrics, the exported config and the report to ``output``. Resumable: a finished
    folder is kept, an interrupted training continues from its checkpoint."""
    from search.export import best_trials, trial_config
    from search.report import build_report
    from search.retrain import run_train

    best = best_trials(study, 1, "to train for the budget")[0]
    config = trial_config(study, best)
    epochs = final_epochs(study, budget, best, config.finetune.epochs)
    if epochs < 1:
        raise UsageError(f"budget: the search spent all of {budget}; nothing left to retrain")
    final = config.stretched(epochs)
    metrics = _prepare(output, final)
    if metrics is not None:
        print(f"budget {budget}: the final model in {output} is already trained",
              file=sys.stderr, flush=True)  # fmt: skip
    else:
        pick = f"trial {best.number} for {epochs} + {final.finetune.epochs} epochs"
        print(f"budget {budget}: retraining {pick} into {output}", file=sys.stderr, flush=True)
        with open(output / "train.log", "a") as log:
            metrics = run_train(final, output, device, data_dir, log, output / "checkpoint.pt")
    what = f"the final model: this config stretched to {epochs} + {final.finetune.epochs} epochs"
    build_report(storage, study.study_name, output / "report", device, data_dir,
                 final=(what, metrics))  # fmt: skip
    return metrics

"""``tricksearch export`` and ``studies``: best trick configs out of a study, and a study list."""

from __future__ import annotations

import contextlib
import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.errors import UsageError
from search.record import StudyRecord, TrialRecord, or_nan
from search.storage import open_storage, redact
from tricks.config import ConfigError, TrickConfig
from tricks.pretrained import provenance

__all__ = ["best_trials", "export_configs", "load_existing_study", "study_table", "trial_config"]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_existing_study(storage_url: str, study_name: str) -> optuna.Study:
    """Load a study that must exist.

    Raises:
        UsageError: Unknown study (the existing names are listed) or bad storage.
    """
    storage = open_storage(storage_url, heartbeat=False, must_exist=True)
    names = [s.study_name for s in storage.get_all_studies()]
    if study_name not in names:
        listed = ", ".join(names) if names else "none"
        raise UsageError(
            f"no study named {study_name!r} in {redact(storage_url)} (studies: {listed})"
        )
    return optuna.load_study(study_name=study_name, storage=storage)


def best_trials(
    study: optuna.Study, top: int = 1, purpose: str = "to export"
) -> list[optuna.trial.FrozenTrial]:
    """The ``top`` completed trials with a trick config, best first.

    Raises:
        UsageError: The study has no completed trial (``purpose`` ends the message).
    """
    trials = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if TrialRecord(t).trick_config is not None and t.value is not None
    ]
    if not trials:
        raise UsageError(f"study {study.study_name!r} has no completed trial {purpose}")
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(trials, key=lambda t: t.value, reverse=reverse)[:top]  # type: ignore[arg-type, return-value]


def trial_config(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> TrickConfig:
    """The trial's trick config with provenance, set to replay its restarts at the same epochs."""
    record = TrialRecord(trial)
    raw = dict(record.trick_config or {})
    restarts = record.restarts
    raw["restart"] = {
        **raw["restart"],
        "replay": [{"epoch": int(e["epoch"]), "reason": str(e["reason"])} for e in restarts],
    }
    raw["provenance"] = {
        "study": study.study_name,
        "trial": trial.number,
        "metric": StudyRecord(study).metric,
        "value": trial.value,
        "pre_finetune_value": or_nan(record.pre_finetune_value),
        "restarts": [dict(e) for e in restarts],
        "dataset": raw["data"].get("factory") or raw["data"]["dataset"],
        "device": trial.user_attrs.get("device", "not recorded"),
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            **{p: _version(p) for p in ("tricksearch", "torch", "torchvision", "optuna")},
        },
    }
    try:
        config = TrickConfig.from_dict(raw)
    except ConfigError as exc:
        raise UsageError(f"trial {trial.number} holds an invalid trick config: {exc}") from None
    config.provenance.update(provenance(config))  # factory paths, the weights' SHA-256
    return config


def export_configs(
    storage_url: str, study_name: str, top: int, output: Path, fmt: str
) -> list[Path]:
    """Write the ``top`` best configs; TOML writes one file each (``-2``, ``-3``... suffixes)."""
    study = load_existing_study(storage_url, study_name)
    configs = [trial_config(study, t) for t in best_trials(study, top)]
    output.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        output.write_text(json.dumps([c.to_dict() for c in configs], indent=2))
        return [output]
    paths = []
    for rank, config in enumerate(configs, start=1):
        path = output if rank == 1 else output.with_name(f"{output.stem}-{rank}{output.suffix}")
        config.save(path)
        paths.append(path)
    return paths


def study_table(storage_url: str) -> list[dict[str, Any]]:
    """One row per study: name, direction, trial counts by state, best value and trial."""
    storage = open_storage(storage_url, heartbeat=False, must_exist=True)
    rows = []
    for summary in storage.get_all_studies():
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
        best = None
        with contextlib.suppress(ValueError):
            best = study.best_trial
        rows.append(
            {
                "name": summary.study_name,
                "direction": summary.directions[0].name.lower(),
                "metric": StudyRecord(study).metric,
                "trials": len(trials),
                **{k: v for k, v in counts.items() if k != "waiting"},
                "best_value": best.value if best else None,
                "best_trial": best.number if best else None,
            }
        )
    return rows

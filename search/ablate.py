"""``tricksearch ablate``: retrain the best config with one trick at a time switched off.

Each run is a trial of the companion study ``<study>.ablation`` in the same storage,
stored the moment it finishes, so the command resumes and optuna-dashboard shows the
runs. The difference config - variant, paired by seed, is what a trick did.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.errors import UsageError
from search.export import best_trials, load_existing_study, trial_config
from search.record import AblationRun, TrialRecord
from search.stats import mean_ci95
from search.storage import artifact_dir, open_storage
from tricks.ablation import variants
from tricks.config import TrickConfig
from tricks.user_code import announce

__all__ = ["CONFIG_ARM", "ablate", "ablation_rows", "companion_name", "table_lines"]

CONFIG_ARM = "the config itself"


def companion_name(study_name: str) -> str:
    return f"{study_name}.ablation"


@dataclass(frozen=True)
class Run:
    """One training run of the plan: the source trial's config or a variant, at a seed."""

    source: int
    arm: str
    change: str
    seed: int
    config: TrickConfig

    @property
    def key(self) -> tuple[int, str, int]:
        return self.source, self.arm, self.seed


def plan(study: optuna.Study, top: int, seeds: int) -> tuple[list[Run], dict[int, list[str]]]:
    """Every run the ablation needs, and per source trial the tricks its config lacks."""
    runs, absent = [], {}
    for trial in best_trials(study, top, purpose="to ablate"):
        base = trial_config(study, trial)
        found, absent[trial.number] = variants(base)
        arms = [(CONFIG_ARM, "as exported", base), *((v.trick, v.change, v.config) for v in found)]
        for k in range(seeds):
            for arm, change, config in arms:
                seeded = copy.deepcopy(config)
                seeded.train.seed = base.train.seed + k  # data split stays the source's: see _train
                runs.append(Run(trial.number, arm, change, k, seeded))
    return runs, absent


def ablate(
    storage_url: str,
    study_name: str,
    *,
    output: Path | None = None,
    seeds: int = 3,
    top: int = 1,
    device: str = "cpu",
    data_dir: str | None = None,
    artifacts: str | None = None,
) -> Path:
    """Plan, train what is missing, analyse, write and upload; returns ``ablation.md``.

    Raises:
        UsageError: ``seeds`` or ``top`` below 1, no such storage or study, or a study
            without a completed trial; nothing is written then.
    """
    if seeds < 1:
        raise UsageError(f"seeds: must be >= 1, got {seeds}")
    if top < 1:
        raise UsageError(f"top: must be >= 1, got {top}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our plan line says it better
    study = load_existing_study(storage_url, study_name)
    runs, absent = plan(study, top, seeds)
    companion = optuna.create_study(
        storage=open_storage(storage_url, heartbeat=False, must_exist=True),
        study_name=companion_name(study_name),
        direction="maximize",
        load_if_exists=True,
    )
    done = {r.key for r in _runs(companion)}
    todo = [r for r in runs if r.key not in done]
    _print_plan(study, runs, todo, seeds)
    announce(r.config for r in todo)  # a factory path is code: say what runs
    _train(companion, todo, device, data_dir)
    rows = ablation_rows(companion)
    output = output or Path(f"ablation-{study_name}")
    return _write(
        companion, rows, absent, seeds, output, artifacts or str(artifact_dir(storage_url))
    )


def _runs(companion: optuna.Study) -> list[AblationRun]:
    states = (TrialState.COMPLETE,)
    return [AblationRun.of(t) for t in companion.get_trials(deepcopy=False, states=states)]


def _epoch_seconds(study: optuna.Study) -> float:
    curves = [TrialRecord(t).curve for t in study.get_trials(deepcopy=False)]
    seconds = [row["seconds"] for curve in curves for row in curve]
    return statistics.median(seconds) if seconds else math.nan


def _print_plan(study: optuna.Study, runs: list[Run], todo: list[Run], seeds: int) -> None:
    sources = sorted({r.source for r in runs})
    arms = len({(r.source, r.arm) for r in runs})
    epochs = sum(r.config.train.epochs + r.config.finetune.epochs for r in todo)
    per_epoch = _epoch_seconds(study)  # reads every trial's curve: once
    minutes = epochs * per_epoch / 60
    print(
        f"ablation of trial(s) {', '.join(map(str, sources))}: {arms} arms x {seeds} seeds = "
        f"{len(runs)} runs; {len(runs) - len(todo)} stored, {len(todo)} to train "
        f"(~{minutes:.0f} min at this study's {per_epoch:.1f} s/epoch)",
        file=sys.stderr,
        flush=True,
    )


def _train_one(
    cfg: TrickConfig,
    data: dict[Any, Any],
    key: Any,
    device: str,
    data_dir: str | None,
    source_seed: int,
) -> tuple[float, float]:
    """Train one ablation run: ``(validation value, test value or NaN)``."""
    from tricks.session import Session
    from tricks.sources import load_data
    from tricks.trainer import Trainer
    from tricks.user_code import resolve_callable

    metric = cfg.train.metric
    if cfg.train.fit:  # the user's loop, on a plain session
        session = Session(cfg)
        value = float(resolve_callable(cfg.train.fit, "train.fit")(cfg, session))
        return value, float(session.test[metric]) if session.test else math.nan
    if key not in data:
        data[key] = load_data(cfg.data, seed=source_seed, data_dir=data_dir)
    trainer = Trainer(cfg, data[key], device)
    result = trainer.fit()
    test = math.nan
    if trainer.has_test:
        test = float(trainer.evaluate(result.model, "test")[metric])
    return result.value, test


def _train(companion: optuna.Study, todo: list[Run], device: str, data_dir: str | None) -> None:
    """Train each run and store it as a completed trial of the companion study at once."""
    from tqdm import tqdm

    data: dict[Any, Any] = {}
    # A bar on a terminal only (disable=None); a redirected log gets no redrawn bar lines.
    bar = tqdm(
        todo, desc="ablation runs", unit="run", file=sys.stderr, disable=True if not todo else None
    )
    for run in bar:
        cfg = run.config
        source_seed = cfg.train.seed - run.seed  # every run trains on the source's data split
        key = (json.dumps(cfg.data.__dict__, sort_keys=True), source_seed)
        start = time.perf_counter()
        value, test = _train_one(cfg, data, key, device, data_dir, source_seed)
        stored = AblationRun(
            run.source,
            run.arm,
            run.change,
            run.seed,
            value,
            float(test),
            time.perf_counter() - start,
            cfg.to_dict(),
        )
        companion.add_trial(
            optuna.trial.create_trial(
                value=value, user_attrs=stored.attrs(), state=TrialState.COMPLETE
            )
        )


def ablation_rows(companion: optuna.Study) -> list[dict[str, Any]]:
    """Per source trial and trick: paired differences config - variant (points), CI, verdict."""
    by: dict[tuple[int, str], dict[int, AblationRun]] = {}
    for r in _runs(companion):
        by.setdefault((r.source_trial, r.arm), {})[r.seed] = r
    rows = []
    for (source, arm), per_seed in sorted(by.items()):
        base = by.get((source, CONFIG_ARM), {})
        if arm == CONFIG_ARM or not base:
            continue
        seeds = sorted(set(per_seed) & set(base))
        row: dict[str, Any] = {"source_trial": source, "trick": arm, "seeds": len(seeds)}
        row["change"] = next(iter(per_seed.values())).change
        for split in ("val", "test"):
            diffs = [(getattr(base[s], split) - getattr(per_seed[s], split)) * 100 for s in seeds]
            row[split] = dict(zip(("mean", "low", "high"), mean_ci95(diffs), strict=True))
        low, high = row["val"]["low"], row["val"]["high"]
        row["verdict"] = (
            "helps"
            if low > 0
            else "hurts"
            if high < 0
            else f"no measurable effect at K={len(seeds)}"
        )
        rows.append(row)
    return rows


def _fmt(d: dict[str, float]) -> str:
    if math.isnan(d["low"]):
        return f"{d['mean']:+.2f} (no CI with one seed)"
    return f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def table_lines(
    rows: list[dict[str, Any]], absent: dict[int, list[str]] | None = None
) -> list[str]:
    """The ablation table in Markdown: one row per trick the config uses."""
    lines = [
        "| trial | trick | switched off as | seeds | validation: config - variant (pt) [95% CI] "
        "| test: config - variant (pt) [95% CI] | verdict (validation) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['source_trial']} | {r['trick']} | {r['change']} | {r['seeds']} | {_fmt(r['val'])} "
        f"| {_fmt(r['test'])} | {r['verdict']} |"
        for r in rows
    ]
    for source, names in sorted((absent or {}).items()):
        if names:
            lines += ["", f"Trial {source}'s config does not use: {', '.join(names)} (no variant)."]
    return lines


def _write(
    companion: optuna.Study,
    rows: list[dict[str, Any]],
    absent: dict[int, list[str]],
    seeds: int,
    output: Path,
    artifacts: str,
) -> Path:
    from optuna.artifacts import FileSystemArtifactStore, upload_artifact
    from optuna_dashboard import save_note

    from search.figures import forest_png

    output.mkdir(parents=True, exist_ok=True)
    md = [
        f"# Ablation: {companion.study_name}",
        "",
        f"Each trick switched off alone, {seeds} seed(s) per arm, same data split and epochs; a "
        "positive difference means the trick helped. Decisions use the validation split; the "
        "test split is for reference.",
        "",
        *table_lines(rows, absent),
        "",
        "![ablation forest plot](ablation.png)",
    ]
    paths = [output / "ablation.md", output / "ablation.json", output / "ablation.png"]
    paths[0].write_text("\n".join(md) + "\n")
    paths[1].write_text(json.dumps({"rows": rows, "absent": absent}, indent=2))
    forest_png(rows, paths[2])
    save_note(companion, "\n".join(md[:-2]))
    Path(artifacts).mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(artifacts)
    for path in paths:
        upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=companion)
    return paths[0]

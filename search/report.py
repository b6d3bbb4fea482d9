"""``tricksearch report``: a self-contained Markdown report of what each trick did in a study."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.errors import UsageError
from search.export import best_trials, load_existing_study, trial_config
from search.figures import history_png, per_class_png, scatter_gain_png
from search.optuna_private import storage_of
from search.record import StudyRecord, TrialRecord, or_nan
from tricks.config import TrickConfig

__all__ = ["build_report", "summarise"]

SECTIONS = (
    "Best trick config",
    "Optimisation history",
    "No-aug fine-tune gain",
    "Restarts",
    "Best by loss kind and schedule kind",
    "Parameter importances",
    "Recipes (warm start)",
    "Ablation",
)


def ablation_section(study: optuna.Study) -> list[str]:
    """The ablation of the best config (``tricksearch ablate``), when one has been run."""
    from search.ablate import ablation_rows, companion_name, table_lines

    lines = ["", f"## {SECTIONS[7]}", ""]
    name = companion_name(study.study_name)
    storage = storage_of(study)
    if name not in {s.study_name for s in storage.get_all_studies()}:
        return [*lines, f"No ablation yet: `tricksearch ablate --study {study.study_name}`."]
    companion = optuna.load_study(study_name=name, storage=storage)
    return [*lines, *table_lines(ablation_rows(companion))]


def recipes_section(study: optuna.Study, metric: str) -> list[str]:
    """The literature's recipes the study started with, and how each did."""
    lines = ["", f"## {SECTIONS[6]}", ""]
    records = [TrialRecord(t) for t in study.get_trials(deepcopy=False)]
    recipes = [r for r in records if r.recipe is not None]
    if not recipes:
        return [*lines, "This study did not start from the recipes (warm start off)."]
    lines += [f"| trial | recipe | source | state | validation {metric} |", "|---|---|---|---|---|"]
    for r in recipes:
        value, recipe, t = r.final_value, r.recipe or {}, r.trial
        shown = "-" if value is None else f"{value:.4f}"
        lines.append(
            f"| {t.number} | {recipe['name']} | {recipe['source']} | {t.state.name.lower()} "
            f"| {shown} |"
        )
    return lines


def _gains(complete: list[TrialRecord]) -> dict[str, Any]:
    gains = [r.finetune_gain * 100 for r in complete if r.finetune_gain is not None]
    return {
        "n": len(gains),
        "mean": statistics.fmean(gains) if gains else None,
        "std": statistics.stdev(gains) if len(gains) > 1 else None,
        "min": min(gains, default=None),
        "max": max(gains, default=None),
        "helped": sum(g > 0 for g in gains),
        "hurt": sum(g < 0 for g in gains),
    }


def _restarts(finished: list[TrialRecord]) -> dict[str, Any]:
    restarted = [r for r in finished if r.restarts]
    recovered = [
        r.final_value > e["value"]
        for r in restarted
        for e in r.restarts
        if e["reason"] == "pruned" and r.final_value is not None and math.isfinite(e["value"])
    ]
    return {
        "finished_trials": len(finished),
        "restarted_trials": len(restarted),
        "events_by_reason": dict(Counter(e["reason"] for r in finished for e in r.restarts)),
        "restarted_then_completed": sum(r.trial.state == TrialState.COMPLETE for r in restarted),
        "restarted_then_pruned": sum(r.trial.state == TrialState.PRUNED for r in restarted),
        "pruned_restarts": len(recovered),
        "ended_above_pruning_point": sum(recovered),
    }


def _by_kind(complete: list[TrialRecord], maximize: bool) -> dict[str, dict[str, Any]]:
    by_kind: dict[str, dict[str, Any]] = {}
    for key, (section, field) in (
        ("loss_kind", ("loss", "kind")),
        ("schedule_kind", ("schedule", "kind")),
    ):
        groups: dict[str, list[float]] = defaultdict(list)
        for r in complete:
            cfg = r.trick_config
            kind = cfg[section][field] if cfg else r.trial.params.get(key, "unknown")
            groups[kind].append(or_nan(r.trial.value))
        by_kind[key] = {
            k: {
                "best": (max if maximize else min)(v),
                "mean": statistics.fmean(v),
                "trials": len(v),
            }
            for k, v in sorted(groups.items())
        }
    return by_kind


def summarise(study: optuna.Study) -> dict[str, Any]:
    """The numbers of the report, computed from the study's own trials only."""
    trials = study.get_trials(deepcopy=False)
    records = [TrialRecord(t) for t in trials]
    complete = [
        r for r in records if r.trial.state == TrialState.COMPLETE and r.trial.value is not None
    ]
    finished = [r for r in records if r.trial.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    return {
        "study": study.study_name,
        "metric": StudyRecord(study).metric,
        "trials": len(trials),
        "states": dict(Counter(t.state.name.lower() for t in trials)),
        "finetune_gain_points": _gains(complete),
        "restarts": _restarts(finished),
        "by_kind": _by_kind(complete, _maximize(study)),
    }


def _maximize(study: optuna.Study) -> bool:
    return study.direction == optuna.study.StudyDirection.MAXIMIZE


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _importances(study: optuna.Study) -> tuple[dict[str, float], str]:
    """PED-ANOVA importances (Optuna 5's default evaluator, named here explicitly)."""
    import warnings

    evaluator = optuna.importance.PedAnovaImportanceEvaluator()
    try:
        with warnings.catch_warnings():  # "few trials in a regime": nothing a reader can do
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, evaluator=evaluator), ""
    except Exception as exc:  # too few trials, a single value, ...: say so, don't fail
        return {}, f"not available: {exc}"


@dataclass
class _Report:
    """What every section reads: the study, its summary and where figures go."""

    study: optuna.Study
    summary: dict[str, Any]
    output: Path
    #: What the test metrics are of, said above their table.
    tested: str = "the best config retrained once, restarts replayed"

    @property
    def metric(self) -> str:
        return str(self.summary["metric"])


def _test_lines(rep: _Report, best: FrozenTrial, metrics: dict[str, Any]) -> list[str]:
    test = metrics["test"]
    overall = [
        "",
        f"Held-out test split ({rep.tested}):",
        "",
        "| accuracy | balanced accuracy | macro-F1 |",
        "|---|---|---|",
        f"| {test['accuracy'] * 100:.2f}% | {test['balanced_accuracy'] * 100:.2f}% "
        f"| {test['macro_f1'] * 100:.2f}% |",
    ]
    per_class, classes = test.get("per_class_accuracy"), metrics["classes"]
    if not classes or per_class is None or len(per_class) != len(classes):
        return overall  # a fit function's run: its classes and counts are its own
    rows = zip(classes, metrics["class_counts"], per_class, strict=True)
    per_class_png(
        per_class,
        classes,
        metrics["class_counts"],
        f"best config (trial {best.number}): test per-class accuracy",
        rep.output / "best_per_class.png",
    )
    return [
        *overall,
        "",
        "| class | training images | test accuracy |",
        "|---|---|---|",
        *[f"| {c} | {n} | {a * 100:.1f}% |" for c, n, a in rows],
        "",
        "![per-class test accuracy](best_per_class.png)",
    ]


def _best_section(
    rep: _Report, retrain: Callable[[TrickConfig], dict[str, Any]] | None
) -> list[str]:
    """The best trial, its config and (when ``retrain`` is given) its test metrics."""
    lines = ["", f"## {SECTIONS[0]}", ""]
    try:
        best = best_trials(rep.study, 1)[0]
    except UsageError:
        return [*lines, "No completed trial with a trick config: nothing to show."]
    config, record = trial_config(rep.study, best), TrialRecord(best)
    pre = record.pre_finetune_value
    lines.append(
        f"Trial **{best.number}**: validation {rep.metric} **{best.value:.4f}** "
        f"(before the no-aug fine-tune {pre if pre is None else f'{pre:.4f}'}), "
        f"{len(record.restarts)} restart(s)."
    )
    if retrain is not None:
        metrics = retrain(config)
        rep.summary["test"] = metrics["test"]
        if metrics["test"] is None:
            lines += ["", "The data has no test split: no held-out metrics."]
        else:
            lines += _test_lines(rep, best, metrics)
    return [*lines, "", "```toml", config.to_toml().strip(), "```"]


def _history_section(rep: _Report) -> list[str]:
    lines = ["", f"## {SECTIONS[1]}", ""]
    finished = [
        r
        for r in map(TrialRecord, rep.study.get_trials(deepcopy=False))
        if r.trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and r.final_value is not None
    ]
    if not finished:
        return [*lines, "No finished trial yet."]
    history_png(
        [r.trial.number for r in finished],
        [or_nan(r.final_value) for r in finished],
        [r.trial.state.name.lower() for r in finished],
        rep.metric,
        _maximize(rep.study),
        rep.output / "history.png",
    )
    return [*lines, "![optimisation history](history.png)"]


def _finetune_section(rep: _Report) -> list[str]:
    g, metric = rep.summary["finetune_gain_points"], rep.metric
    lines = ["", f"## {SECTIONS[2]}", ""]
    if not g["n"]:
        return [*lines, "No completed trial recorded a pre-fine-tune value."]
    done = [
        r
        for r in map(
            TrialRecord, rep.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        )
        if r.pre_finetune_value is not None
    ]
    scatter_gain_png(
        [or_nan(r.pre_finetune_value) for r in done],
        [or_nan(r.trial.value) for r in done],
        metric,
        rep.output / "finetune_gain.png",
    )
    return [
        *lines,
        f"Over **{g['n']}** completed trials the no-aug fine-tune changed validation {metric} "
        f"by **{_pct(g['mean'])} points** on average (std {_pct(g['std'])}, min "
        f"{_pct(g['min'])}, max {_pct(g['max'])}); it helped in {g['helped']} of {g['n']} "
        f"trials ({g['helped'] / g['n'] * 100:.0f}%) and hurt in {g['hurt']}.",
        "",
        "![fine-tune gain](finetune_gain.png)",
    ]


def _restarts_section(rep: _Report) -> list[str]:
    r = rep.summary["restarts"]
    reasons = ", ".join(f"{n} {k}" for k, n in sorted(r["events_by_reason"].items())) or "none"
    lines = [
        "",
        f"## {SECTIONS[3]}",
        "",
        f"{r['restarted_trials']} of {r['finished_trials']} finished trials restarted at least "
        f"once (restart events: {reasons}). Of the restarted trials, "
        f"{r['restarted_then_completed']} went on to complete and {r['restarted_then_pruned']} "
        f"were pruned anyway.",
    ]
    if r["pruned_restarts"]:
        lines.append(
            f"Of {r['pruned_restarts']} restarts given instead of pruning, "
            f"{r['ended_above_pruning_point']} ended above the metric at the pruning point."
        )
    return lines


def _by_kind_section(rep: _Report) -> list[str]:
    lines = ["", f"## {SECTIONS[4]}", ""]
    for key, rows in rep.summary["by_kind"].items():
        lines += [f"| {key} | best {rep.metric} | mean | completed trials |", "|---|---|---|---|"]
        lines += [
            f"| {k} | {v['best']:.4f} | {v['mean']:.4f} | {v['trials']} |" for k, v in rows.items()
        ]
        lines.append("")
    return lines


def _importance_section(rep: _Report) -> list[str]:
    lines = [f"## {SECTIONS[5]}", ""]
    importances, why = _importances(rep.study)
    rep.summary["importances"] = importances
    if not importances:
        return [*lines, f"Parameter importances {why}."]
    return [
        *lines,
        "Optuna's PED-ANOVA evaluator (its default) over completed trials:",
        "",
        "| parameter | importance |",
        "|---|---|",
        *[f"| {k} | {v:.3f} |" for k, v in importances.items()],
    ]


def build_report(
    storage_url: str,
    study_name: str,
    output: Path,
    device: str = "cpu",
    data_dir: str | None = None,
    evaluate_test: bool = True,
    final: tuple[str, dict[str, Any]] | None = None,
) -> Path:
    """Write ``output/report.md`` with PNG figures and ``output/summary.json``.

    The best config's test-split metrics come from retraining it once (its restarts
    replayed, same seed), so the test split is never used for selection. The
    retraining's epoch lines go to ``output/best_run/train.log``. ``final`` is a
    training already done instead (``--budget``'s final model): what it was, and the
    metrics :func:`search.retrain.run_train` returned for it.
    """
    study = load_existing_study(storage_url, study_name)
    output.mkdir(parents=True, exist_ok=True)
    rep = _Report(study, summarise(study), output)
    rep.summary["test"] = None
    states = ", ".join(f"{n} {k}" for k, n in sorted(rep.summary["states"].items()))
    md = [
        f"# tricksearch report: {study_name}",
        "",
        f"{rep.summary['trials']} trials ({states}). "
        f"Metric: validation **{rep.metric}**; numbers in points are percentage points.",
    ]
    retrain: Callable[[TrickConfig], dict[str, Any]] | None = None
    if final is not None:
        rep.tested, done = final
        retrain = lambda _: done  # noqa: E731
    elif evaluate_test:
        retrain = lambda cfg: _retrain(cfg, output / "best_run", device, data_dir)  # noqa: E731
    md += _best_section(rep, retrain)
    md += _history_section(rep)
    md += _finetune_section(rep)
    md += _restarts_section(rep)
    md += _by_kind_section(rep)
    md += _importance_section(rep)
    md += recipes_section(study, rep.metric)
    md += ablation_section(study)
    (output / "summary.json").write_text(json.dumps(rep.summary, indent=2, default=str))
    path = output / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _retrain(
    config: TrickConfig, output: Path, device: str, data_dir: str | None
) -> dict[str, Any]:
    """Retrain the best config once, its epoch lines in ``output/train.log``."""
    from search.retrain import run_train
    from tricks.user_code import announce

    announce([config], sys.stdout)  # a factory path is code: say what runs
    output.mkdir(parents=True, exist_ok=True)
    log = output / "train.log"
    print(f"retraining the best config for its test metrics (log: {log})", flush=True)
    with log.open("w") as stream:
        return run_train(config, output, device, data_dir, stream=stream)

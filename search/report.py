"""``tricksearch report``: a self-contained Markdown report of what each trick did in a study."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.export import best_trials, load_existing_study, trial_config
from search.figures import history_png, per_class_png, scatter_gain_png
from search.optuna_private import storage_of

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
    recipes = [t for t in study.get_trials(deepcopy=False) if "recipe" in t.user_attrs]
    if not recipes:
        return [*lines, "This study did not start from the recipes (warm start off)."]
    lines += [f"| trial | recipe | source | state | validation {metric} |", "|---|---|---|---|---|"]
    for t in recipes:
        value = _final_value(t)
        shown = "-" if value is None else f"{value:.4f}"
        r = t.user_attrs["recipe"]
        lines.append(
            f"| {t.number} | {r['name']} | {r['source']} | {t.state.name.lower()} | {shown} |"
        )
    return lines


def _final_value(t: FrozenTrial) -> float | None:
    """A completed trial's value, or the last value a pruned trial reported."""
    if t.value is not None:
        return t.value
    if t.last_step is not None:
        return t.intermediate_values[t.last_step]
    return None


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def summarise(study: optuna.Study) -> dict[str, Any]:
    """The numbers of the report, computed from the study's own trials only."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    gains = [
        (t.value - t.user_attrs["pre_finetune_value"]) * 100
        for t in complete
        if isinstance(t.user_attrs.get("pre_finetune_value"), float)
        and math.isfinite(t.user_attrs["pre_finetune_value"])
    ]
    restarted = [t for t in finished if t.user_attrs.get("restarts")]
    reasons = Counter(r["reason"] for t in finished for r in t.user_attrs.get("restarts", []))
    recovered = []
    for t in restarted:
        final = _final_value(t)
        for r in t.user_attrs["restarts"]:
            if r["reason"] == "pruned" and final is not None and math.isfinite(r["value"]):
                recovered.append(final > r["value"])
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for key, param in (("loss_kind", ("loss", "kind")), ("schedule_kind", ("schedule", "kind"))):
        groups: dict[str, list[float]] = defaultdict(list)
        for t in complete:
            cfg = t.user_attrs.get("trick_config")
            kind = cfg[param[0]][param[1]] if cfg else t.params.get(key, "unknown")
            groups[kind].append(t.value)  # type: ignore[arg-type]
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        by_kind[key] = {
            k: {
                "best": (max if maximize else min)(v),
                "mean": statistics.fmean(v),
                "trials": len(v),
            }
            for k, v in sorted(groups.items())
        }
    return {
        "study": study.study_name,
        "metric": study.user_attrs.get("metric", "value"),
        "trials": len(trials),
        "states": dict(Counter(t.state.name.lower() for t in trials)),
        "finetune_gain_points": {
            "n": len(gains),
            "mean": statistics.fmean(gains) if gains else None,
            "std": statistics.stdev(gains) if len(gains) > 1 else None,
            "min": min(gains, default=None),
            "max": max(gains, default=None),
            "helped": sum(g > 0 for g in gains),
            "hurt": sum(g < 0 for g in gains),
        },
        "restarts": {
            "finished_trials": len(finished),
            "restarted_trials": len(restarted),
            "events_by_reason": dict(reasons),
            "restarted_then_completed": sum(t.state == TrialState.COMPLETE for t in restarted),
            "restarted_then_pruned": sum(t.state == TrialState.PRUNED for t in restarted),
            "pruned_restarts": len(recovered),
            "ended_above_pruning_point": sum(recovered),
        },
        "by_kind": by_kind,
    }


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


def build_report(
    storage_url: str,
    study_name: str,
    output: Path,
    device: str = "cpu",
    data_dir: str | None = None,
    evaluate_test: bool = True,
) -> Path:
    """Write ``output/report.md`` with PNG figures and ``output/summary.json``.

    The best config's test-split metrics come from retraining it once (its restarts
    replayed, same seed), so the test split is never used for selection.
    """
    study = load_existing_study(storage_url, study_name)
    output.mkdir(parents=True, exist_ok=True)
    s = summarise(study)
    metric = s["metric"]
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    md = [f"# tricksearch report: {study_name}", ""]
    md.append(
        f"{s['trials']} trials ({', '.join(f'{n} {k}' for k, n in sorted(s['states'].items()))}). "
        f"Metric: validation **{metric}**; numbers in points are percentage points."
    )

    # Best trick config and its test metrics.
    md += ["", f"## {SECTIONS[0]}", ""]
    test: dict[str, Any] | None = None
    try:
        best = best_trials(study, 1)[0]
    except Exception:
        best = None
        md.append("No completed trial with a trick config: nothing to show.")
    if best is not None:
        config = trial_config(study, best)
        pre = best.user_attrs.get("pre_finetune_value")
        md.append(
            f"Trial **{best.number}**: validation {metric} **{best.value:.4f}** "
            f"(before the no-aug fine-tune {pre if pre is None else f'{pre:.4f}'}), "
            f"{len(best.user_attrs.get('restarts', []))} restart(s)."
        )
        if evaluate_test:
            from search.train_cmd import run_train

            metrics = run_train(config, output / "best_run", device, data_dir)
            test = metrics["test"]
            md += [
                "",
                "Held-out test split (the best config retrained once, restarts replayed):",
                "",
                "| accuracy | balanced accuracy | macro-F1 |",
                "|---|---|---|",
                f"| {test['accuracy'] * 100:.2f}% | {test['balanced_accuracy'] * 100:.2f}% "
                f"| {test['macro_f1'] * 100:.2f}% |",
                "",
                "| class | training images | test accuracy |",
                "|---|---|---|",
                *[
                    f"| {c} | {n} | {a * 100:.1f}% |"
                    for c, n, a in zip(
                        metrics["classes"],
                        metrics["class_counts"],
                        test["per_class_accuracy"],
                        strict=True,
                    )
                ],
            ]
            per_class_png(
                test["per_class_accuracy"],
                metrics["classes"],
                metrics["class_counts"],
                f"best config (trial {best.number}): test per-class accuracy",
                output / "best_per_class.png",
            )
            md += ["", "![per-class test accuracy](best_per_class.png)"]
        md += ["", "```toml", config.to_toml().strip(), "```"]

    # Optimisation history.
    md += ["", f"## {SECTIONS[1]}", ""]
    finished = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and _final_value(t) is not None
    ]
    if finished:
        history_png(
            [t.number for t in finished],
            [_or_nan(_final_value(t)) for t in finished],
            [t.state.name.lower() for t in finished],
            metric,
            maximize,
            output / "history.png",
        )
        md.append("![optimisation history](history.png)")
    else:
        md.append("No finished trial yet.")

    # Fine-tune gain.
    g = s["finetune_gain_points"]
    md += ["", f"## {SECTIONS[2]}", ""]
    if g["n"]:
        md.append(
            f"Over **{g['n']}** completed trials the no-aug fine-tune changed validation {metric} "
            f"by **{_pct(g['mean'])} points** on average (std {_pct(g['std'])}, min "
            f"{_pct(g['min'])}, max {_pct(g['max'])}); it helped in {g['helped']} of {g['n']} "
            f"trials ({g['helped'] / g['n'] * 100:.0f}%) and hurt in {g['hurt']}."
        )
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if isinstance(t.user_attrs.get("pre_finetune_value"), float)
        ]
        scatter_gain_png(
            [t.user_attrs["pre_finetune_value"] for t in done],
            [_or_nan(t.value) for t in done],
            metric,
            output / "finetune_gain.png",
        )
        md += ["", "![fine-tune gain](finetune_gain.png)"]
    else:
        md.append("No completed trial recorded a pre-fine-tune value.")

    # Restarts.
    r = s["restarts"]
    md += ["", f"## {SECTIONS[3]}", ""]
    reasons = ", ".join(f"{n} {k}" for k, n in sorted(r["events_by_reason"].items())) or "none"
    md.append(
        f"{r['restarted_trials']} of {r['finished_trials']} finished trials restarted at least "
        f"once (restart events: {reasons}). Of the restarted trials, "
        f"{r['restarted_then_completed']} went on to complete and {r['restarted_then_pruned']} "
        f"were pruned anyway."
    )
    if r["pruned_restarts"]:
        md.append(
            f"Of {r['pruned_restarts']} restarts given instead of pruning, "
            f"{r['ended_above_pruning_point']} ended above the metric at the pruning point."
        )

    # By kind.
    md += ["", f"## {SECTIONS[4]}", ""]
    for key, rows in s["by_kind"].items():
        md += [f"| {key} | best {metric} | mean | completed trials |", "|---|---|---|---|"]
        md += [
            f"| {k} | {v['best']:.4f} | {v['mean']:.4f} | {v['trials']} |" for k, v in rows.items()
        ]
        md.append("")

    # Importances.
    md += [f"## {SECTIONS[5]}", ""]
    importances, why = _importances(study)
    s["importances"] = importances
    if importances:
        md += [
            "Optuna's PED-ANOVA evaluator (its default) over completed trials:",
            "",
            "| parameter | importance |",
            "|---|---|",
        ]
        md += [f"| {k} | {v:.3f} |" for k, v in importances.items()]
    else:
        md.append(f"Parameter importances {why}.")

    md += recipes_section(study, metric)
    md += ablation_section(study)
    s["test"] = test
    (output / "summary.json").write_text(json.dumps(s, indent=2, default=str))
    path = output / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path

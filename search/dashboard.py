"""optuna-dashboard integration: trial notes and artifacts, study notes and graphs, the server."""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.trial import TrialState

from search.objective import TrialOutcome
from search.record import TrialRecord
from search.storage import artifact_dir, open_storage, redact
from tricks.config import LossConfig

__all__ = ["TrialRecorder", "annotate_study", "serve", "trial_note"]


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else str(value)


def _loss_description(loss: LossConfig) -> str:
    """``weighted_ce; effective class weights (beta 0.9999) from epoch 15`` and the like."""
    desc: str = loss.kind
    if "focal" in loss.kind:
        desc += f", gamma {loss.focal_gamma:.2f}"
    if loss.kind == "sigmoid_focal":
        desc += f", alpha {loss.focal_alpha:.2f}"
    if loss.weighted:
        how = (
            f"power {loss.weight_power:.2f}"
            if loss.weight_mode == "inverse"
            else f"beta {loss.weight_beta:.4f}"
        )
        start = (
            f"from epoch {loss.weights_from_epoch}" if loss.weights_from_epoch else "from the start"
        )
        desc += f"; {loss.weight_mode} class weights ({how}) {start}"
    return desc


def _per_class_lines(outcome: TrialOutcome) -> list[str]:
    """Validation accuracy per class, rarest last, as a table (cheaper than a figure)."""
    assert outcome.result is not None
    accuracy = outcome.result.metrics["per_class_accuracy"]
    rows = zip(outcome.classes, outcome.class_counts, accuracy, strict=True)
    return [
        "",
        "| class | training images | validation accuracy |",
        "|---|---|---|",
        *[f"| {c} | {n} | {_fmt(a)} |" for c, n, a in rows],
    ]


def trial_note(trial_number: int, outcome: TrialOutcome, metric: str) -> str:
    """A note a person reads at a glance: tricks used, restarts, the fine-tune's effect."""
    cfg = outcome.config
    loss_desc = _loss_description(cfg.loss)
    recipe = outcome.recipe
    lines = [
        f"## Trial {trial_number}",
        "",
        f"Recipe: {recipe['name']} ({recipe['source']}), enqueued by the warm start."
        if recipe
        else "Sampled by the study's sampler.",
        "",
        "| trick | value |",
        "|---|---|",
        f"| loss | {loss_desc} |",
        f"| schedule | warmup {cfg.schedule.warmup_steps} steps, then {cfg.schedule.kind} "
        f"to step {cfg.schedule.phase_steps or 'end'} |",
        f"| peak learning rate | {cfg.train.lr:.4g} ({cfg.train.optimizer}, "
        f"{cfg.train.epochs} epochs) |",
        f"| restarts | up to {cfg.restart.max_restarts}, LR x {cfg.restart.lr_factor:.2f}, "
        f"plateau patience {cfg.restart.patience} |",
        f"| no-aug fine-tune | {cfg.finetune.epochs} epochs at LR x {cfg.finetune.lr_factor:.3g} |",
        "",
        "### Restarts",
    ]
    if outcome.restarts:
        lines += [
            "",
            "| after epoch | why | LR before | LR after | metric then |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['epoch']} | {r['reason']} | {r['lr_before']:.3g} | {r['lr_after']:.3g} "
            f"| {_fmt(r['value'])} |"
            for r in outcome.restarts
        ]
    else:
        lines.append("None.")
    lines += ["", "### Result"]
    values = outcome.values()
    if values is not None:
        pre, value = values
        lines.append(
            f"Validation {metric}: **{_fmt(pre)}** before the no-aug "
            f"fine-tune, **{_fmt(value)}** after it ({(value - pre) * 100:+.2f} points)."
        )
        if outcome.result is not None and outcome.classes:  # a fit function's are its own
            lines += _per_class_lines(outcome)
    else:
        lines.append(f"Pruned: {outcome.pruned_reason}. Pruned trials do not fine-tune.")
    return "\n".join(lines)


class TrialRecorder:
    """The ``after_trial`` hook: writes each finished trial's note and artifacts.

    Artifacts: ``learning_curve.png`` (metric and LR per epoch, restarts, fine-tune) and
    ``trick_config.toml``; the per-class accuracy is a table in the note.
    """

    def __init__(self, store: FileSystemArtifactStore, metric: str) -> None:
        self.store = store
        self.metric = metric

    def __call__(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        from optuna_dashboard import save_note

        from search.figures import learning_curve_png  # matplotlib: not at start

        save_note(trial, trial_note(trial.number, outcome, self.metric))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            files = [
                learning_curve_png(
                    outcome.curve, outcome.restarts, self.metric, folder / "learning_curve.png"
                )
            ]
            config_path = folder / "trick_config.toml"
            outcome.config.save(config_path)
            files.append(config_path)
            for path in files:
                upload_artifact(
                    artifact_store=self.store, file_path=str(path), study_or_trial=trial
                )


def study_note(study: optuna.Study, spec: Any, classes: list[str], counts: list[int]) -> str:
    """The dataset (class counts, imbalance) and the search space, in markdown."""
    data = spec.base.data
    lines = [
        f"## {study.study_name}",
        "",
        f"**Data**: {data.dataset}, long-tailed with imbalance ratio {data.imbalance_ratio:g} "
        f"({sum(counts)} training images; balanced validation split of {data.val_per_class} "
        f"per class). Model **{spec.base.model.name}**, {spec.base.train.epochs} epochs + "
        f"no-aug fine-tune. Metric: validation **{spec.metric}**.",
        "",
        "| class | training images |",
        "|---|---|",
        *[f"| {c} | {n} |" for c, n in zip(classes, counts, strict=False)],
        "",
        f"**Sampler** {spec.sampler['name']}, **pruner** restart-on-prune around "
        f"{spec.pruner['name']} (grace {spec.grace_epochs} epochs).",
        "",
        "**Search space**",
        "",
        "| parameter | range or choices |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in spec.space.items()],
    ]
    return "\n".join(lines)


def annotate_study(study: optuna.Study, spec: Any, classes: list[str], counts: list[int]) -> None:
    """Study note and study-level plotly graphs (fine-tune gain, restarted vs not)."""
    from optuna_dashboard import save_note, save_plotly_graph_object

    save_note(study, study_note(study, spec, classes, counts))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    done = [(r.trial.number, r.finetune_gain) for r in map(TrialRecord, complete)]
    gains = [(number, gain * 100) for number, gain in done if gain is not None]
    if not gains:
        return
    import plotly.graph_objects as go  # only once there is something to draw

    numbers, points = zip(*gains, strict=True)
    fig = go.Figure(go.Bar(x=list(numbers), y=list(points), marker_color="seagreen"))
    fig.update_layout(
        title="No-aug fine-tune gain per completed trial (points)",
        xaxis_title="trial",
        yaxis_title=f"{spec.metric} gain (points)",
    )
    save_plotly_graph_object(study, fig, graph_object_id="finetune-gain")
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    groups: dict[str, list[float]] = {"restarted": [], "never restarted": []}
    for record in map(TrialRecord, finished):
        value = record.final_value
        if value is not None:
            groups["restarted" if record.restarts else "never restarted"].append(value)
    fig = go.Figure(
        [go.Box(y=v, name=f"{k} (n={len(v)})", boxpoints="all") for k, v in groups.items() if v]
    )
    fig.update_layout(
        title="Final metric: restarted vs never-restarted trials (pruned: last reported value)",
        yaxis_title=spec.metric,
    )
    save_plotly_graph_object(study, fig, graph_object_id="restarts")


def serve(
    storage_url: str, host: str = "127.0.0.1", port: int = 8080, artifacts: str | None = None
) -> None:
    """Start optuna-dashboard (blocking) on the storage and its artifact store; print the URL."""
    from optuna_dashboard import run_server

    storage = open_storage(storage_url, heartbeat=False, must_exist=True)
    folder = artifacts or str(artifact_dir(storage_url))
    os.makedirs(folder, exist_ok=True)
    print(
        f"optuna-dashboard for {redact(storage_url)} at http://{host}:{port}/dashboard/", flush=True
    )
    print("press Ctrl-C to stop", file=sys.stderr, flush=True)
    run_server(storage, host=host, port=port, artifact_store=FileSystemArtifactStore(folder))

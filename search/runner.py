"""``tricksearch run``: create or resume a study and optimise it to the requested total."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.errors import UsageError
from search.objective import Objective
from search.pruner import RestartOnPrunePruner
from search.storage import artifact_dir, open_storage, redact
from search.study_file import StudySpec, make_pruner, make_sampler

__all__ = ["RunOptions", "finished_count", "open_study", "run_study"]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class RunOptions:
    """Command-line choices that are not part of the study file."""

    storage: str
    study_name: str
    n_trials: int
    timeout: float = 0.0
    device: str = "cpu"
    data_dir: str | None = None
    quiet: bool = False
    artifact_dir: str | None = None
    dashboard: bool = True


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def open_study(spec: StudySpec, opts: RunOptions) -> optuna.Study:
    """Create the study or load it (same name, same storage) with the spec's sampler and pruner."""
    storage = open_storage(opts.storage)
    pruner = RestartOnPrunePruner(
        make_pruner(spec), spec.grace_epochs, spec.base.restart.max_restarts
    )
    study = optuna.create_study(
        storage=storage,
        study_name=opts.study_name,
        sampler=make_sampler(spec, seed=spec.base.train.seed),
        pruner=pruner,
        direction=spec.direction,
        load_if_exists=True,
    )
    if study.direction.name.lower() != spec.direction:
        raise UsageError(
            f"study {opts.study_name!r} in {redact(opts.storage)} was created to "
            f"{study.direction.name.lower()}, the study file says {spec.direction}"
        )
    if "spec" not in study.user_attrs:
        study.set_user_attr("spec", spec.to_dict())
        study.set_user_attr("metric", spec.metric)
        study.set_metric_names([spec.metric])
    return study


class _Progress:
    """A bar over trials, a line per epoch, a line per finished trial (stderr)."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.quiet = quiet
        self.bar = tqdm(
            total=total,
            initial=done,
            desc="trials",
            unit="trial",
            file=sys.stderr,
            disable=quiet,
            dynamic_ncols=True,
        )

    def epoch(self, trial_number: int, event: Any) -> None:
        if not self.quiet:
            self.bar.write(
                f"trial {trial_number:3d} epoch {event.epoch:3d} [{event.phase}] "
                f"loss {event.train_loss:.4f} lr {event.lr:.2e} val {event.value:.4f}",
                file=sys.stderr,
            )

    def trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state in FINISHED:
            self.bar.update(1)
        if not self.quiet:
            value = f"{trial.value:.4f}" if trial.value is not None else "-"
            restarts = len(trial.user_attrs.get("restarts", []))
            self.bar.write(
                f"trial {trial.number:3d} {trial.state.name.lower()} value {value} "
                f"restarts {restarts}",
                file=sys.stderr,
            )

    def close(self) -> None:
        self.bar.close()


def run_study(spec: StudySpec, opts: RunOptions, data: Any = None) -> optuna.Study:
    """Optimise until the study holds ``opts.n_trials`` finished (complete or pruned) trials."""
    from tricks.data import load_bundle

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say more, once
    study = open_study(spec, opts)
    done = finished_count(study)
    if done >= opts.n_trials:
        return study
    if data is None:
        data = load_bundle(spec.base.data, seed=spec.base.train.seed, data_dir=opts.data_dir)
    recorder = None
    if opts.dashboard:
        from optuna.artifacts import FileSystemArtifactStore

        from search.dashboard import TrialRecorder, annotate_study

        folder = Path(opts.artifact_dir or artifact_dir(opts.storage))
        folder.mkdir(parents=True, exist_ok=True)
        recorder = TrialRecorder(FileSystemArtifactStore(str(folder)), spec.metric)
        annotate_study(study, spec, data.classes, data.class_counts)
    progress = _Progress(opts.n_trials, done, opts.quiet)
    objective = Objective(spec, data, opts.device, on_epoch=progress.epoch, after_trial=recorder)
    callbacks = [
        optuna.study.MaxTrialsCallback(opts.n_trials, states=FINISHED),
        progress.trial,
    ]
    start = time.monotonic()
    try:
        study.optimize(
            objective,
            n_trials=opts.n_trials - done,
            timeout=opts.timeout or None,
            callbacks=callbacks,
            catch=(RuntimeError, ValueError),
            gc_after_trial=False,
        )
    finally:
        progress.close()
        if opts.dashboard:
            annotate_study(study, spec, data.classes, data.class_counts)
    if not opts.quiet:
        print(f"ran for {time.monotonic() - start:.0f}s", file=sys.stderr)
    return study

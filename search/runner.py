"""``tricksearch run``: create or resume a study and work on it until it holds N finished trials."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from search.budget import Budget, may_claim, most_epochs, parse_budget, search_progress
from search.checkpoints import CheckpointStore, checkpoint_dir
from search.claim import claim_lock
from search.defaults import CHECKPOINT_EVERY
from search.device import describe_device
from search.errors import UsageError
from search.objective import Objective
from search.optuna_private import heartbeat, storage_of, unbeaten_running_trials
from search.pruner import wrap_pruner
from search.recipes import enqueue_recipes
from search.record import FAIL_REASON, StudyRecord, TrialRecord, TrialWriter
from search.resilient import retrying
from search.storage import StorageURL, artifact_dir, open_storage, parse_url, retry_callback
from search.study_file import StudySpec, make_pruner, make_sampler

__all__ = [
    "Interrupted",
    "RepeatedFailure",
    "RunOptions",
    "finished_count",
    "open_study",
    "run_study",
]

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TAKEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the running trial is marked failed and the run stops."""


class RepeatedFailure(RuntimeError):
    """Trial after trial failed in this process: a broken setup, not one unlucky trial."""


#: Failed trials in a row after which a worker stops (FAIL does not count toward the total).
MAX_FAILURES_IN_A_ROW = 3


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
    heartbeat: int = 10
    worker: str = ""
    torch_ready: float | None = None  # time.perf_counter() when torch was imported
    warm_start: bool | None = None  # None: the study file's [study] warm_start
    accept_changed_study: bool = False  # resume although the study file was edited
    checkpoint_dir: str | None = None  # default: beside a file storage
    checkpoint_every: float = CHECKPOINT_EVERY  # seconds between checkpoints; 0: every epoch
    budget: str = ""  # search.budget: claim trials only while they fit the search's share
    url: StorageURL = field(init=False, repr=False, compare=False)  # ``storage``, parsed once

    def __post_init__(self) -> None:
        self.url = parse_url(self.storage)


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def open_study(spec: StudySpec, opts: RunOptions) -> optuna.Study:
    """Create the study or load it (same name, same storage) with the spec's sampler and pruner.

    A new study gets the literature's recipes as its first trials (see
    :mod:`search.recipes`) unless warm start is off; a resumed one never gets them again.
    """
    storage = open_storage(opts.url, heartbeat_interval=opts.heartbeat)
    pruner = wrap_pruner(make_pruner(spec), spec.grace_epochs, spec.base.restart.max_restarts)
    study = optuna.create_study(
        storage=storage,
        study_name=opts.study_name,
        pruner=pruner,
        direction=spec.direction,  # type: ignore[arg-type]  # validated: maximize
        load_if_exists=True,
    )
    if study.direction.name.lower() != spec.direction:
        raise UsageError(
            f"study {opts.study_name!r} in {opts.url.redacted()} was created to "
            f"{study.direction.name.lower()}, the study file says {spec.direction}"
        )
    _check_definition(study, spec, opts)
    trials = study.get_trials(deepcopy=False)
    study.sampler = make_sampler(spec, seed=_sampler_seed(spec, opts, len(trials)))
    record = StudyRecord(study)
    if record.spec is None:
        record.define(spec.to_dict(), spec.metric)
        study.set_metric_names([spec.metric])
    _warm_start(study, spec, opts)
    return study


#: Study-file keys that may change between runs of one study: they set how long to run.
RESUMABLE_CHANGES = {"study.n_trials", "study.timeout", "study.warm_start", "study.budget"}


def _flatten(tables: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tables.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed_keys(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two study definitions (JSON-normalised)."""
    a, b = _flatten(stored), _flatten(json.loads(json.dumps(current)))
    keys = sorted((set(a) | set(b)) - RESUMABLE_CHANGES)
    return [k for k in keys if a.get(k) != b.get(k)]


def _check_definition(study: optuna.Study, spec: StudySpec, opts: RunOptions) -> None:
    """Refuse to resume a study from an edited study file, unless told to (then record it).

    One study's trials must share a search space, data and budget: mixing two would
    mislead the sampler, the pruner's comparisons and every summary.

    Raises:
        UsageError: The stored definition differs; the message names the keys.
    """
    record = StudyRecord(study)
    stored = record.spec
    if stored is None:
        return
    changed = changed_keys(stored, spec.to_dict())
    if not changed:
        return
    if not opts.accept_changed_study:
        shown = ", ".join(changed[:6]) + (
            f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        )
        raise UsageError(
            f"study {opts.study_name!r} was created from a different study definition "
            f"(changed: {shown}); use another --study-name, or --accept-changed-study to "
            "continue it anyway"
        )
    history = record.spec_changes
    history.append({"changed": changed, "trials_before": len(study.trials), "spec": spec.to_dict()})
    record.change(spec.to_dict(), history)


def _warm_start(study: optuna.Study, spec: StudySpec, opts: RunOptions) -> None:
    """Enqueue the recipes once, when the study is new; record what was done in the study.

    Under the claim lock, so two processes opening a new study enqueue them once.
    """
    wanted = spec.warm_start if opts.warm_start is None else opts.warm_start
    with claim_lock(opts.url, opts.study_name):
        record = StudyRecord(study)
        done = record.warm_start
        if done is None and not study.get_trials(deepcopy=False):
            names = enqueue_recipes(study, spec.space, spec.base) if wanted else []
            record.warm_started(names)
            return
    if done and opts.warm_start is False and not opts.worker:
        print(
            f"tricksearch: study {opts.study_name!r} already holds its {len(done)} recipe "
            "trials from when it was created; --no-warm-start changes nothing now",
            file=sys.stderr,
        )


def _sampler_seed(spec: StudySpec, opts: RunOptions, n_trials: int) -> int:
    """``train.seed`` for a new study in a lone local run (reproducible); else a fresh seed.

    A resumed study adds its trial count, so a rerun does not draw the parameter sets
    it drew before; parallel workers add their process id, so they do not sample the
    same trick configs side by side.
    """
    local = opts.url.file is not None
    if local and not opts.worker:
        return spec.base.train.seed + n_trials
    # Mixed, not added: worker pids are consecutive and their trial counts differ by one,
    # so seed + count + pid collided for neighbouring workers.
    entropy = [spec.base.train.seed, n_trials, os.getpid()]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class _Progress:
    """A bar over trials, a line per epoch, a line per finished trial (stderr).

    The bar is drawn only on a terminal (tqdm's ``disable=None``): redirected to a file,
    as in a batch job's log, stderr gets the plain epoch and trial lines alone.
    """

    def __init__(self, total: int | None, done: int, quiet: bool, worker: str) -> None:
        from tqdm import tqdm

        self.quiet = quiet
        self.prefix = f"[{worker}] " if worker else ""
        self.bar = tqdm(
            total=total,
            initial=done,
            desc="trials",
            unit="trial",
            file=sys.stderr,
            disable=True if quiet or worker else None,
            dynamic_ncols=True,
        )

    def write(self, line: str) -> None:
        if not self.quiet:
            self.bar.write(self.prefix + line, file=sys.stderr)

    def epoch(self, trial_number: int, event: Any) -> None:
        self.write(
            f"trial {trial_number:3d} epoch {event.epoch:3d} [{event.phase}] "
            f"loss {event.train_loss:.4f} lr {event.lr:.2e} val {event.value:.4f}"
        )

    def trial(self, trial: optuna.trial.FrozenTrial, done: int) -> None:
        self.bar.n = done
        self.bar.refresh()
        value = f"{trial.value:.4f}" if trial.value is not None else "-"
        record = TrialRecord(trial)
        restarts, reason = len(record.restarts), record.reason
        self.write(
            f"trial {trial.number:3d} {trial.state.name.lower()} value {value} "
            f"restarts {restarts} {reason}".rstrip()
        )

    def close(self) -> None:
        self.bar.close()


def _parsed_budget(spec: StudySpec, opts: RunOptions) -> tuple[Budget, int] | None:
    """``opts.budget`` parsed once per run, with the most epochs one trial of the study
    runs (what :func:`~search.budget.may_claim` counts a running trial at); None without."""
    if not opts.budget:
        return None
    most = most_epochs(spec.to_dict())
    return parse_budget(opts.budget, most), most


def _fail_unbeaten(study: optuna.Study) -> None:
    """Fail and retry the trials a lost claim or a dead worker left RUNNING before they
    ever beat (:func:`~search.optuna_private.unbeaten_running_trials`)."""
    storage = storage_of(study)
    for trial_id in unbeaten_running_trials(study):
        reason = "claimed, but never started: its worker lost the connection or died"
        storage.set_trial_user_attr(trial_id, FAIL_REASON, reason)
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            retry_callback()(study, storage.get_trial(trial_id))


def _claim(
    study: optuna.Study, opts: RunOptions, budget: tuple[Budget, int] | None
) -> optuna.Trial | None:
    """Take a waiting (retried) trial or start a new one, unless the study is full.

    A lost connection (the database restarting) retries the whole claim.
    """
    return retrying(_claim_once)(study, opts, budget)


def _claim_once(
    study: optuna.Study, opts: RunOptions, budget: tuple[Budget, int] | None
) -> optuna.Trial | None:
    with claim_lock(opts.url, opts.study_name):
        if budget is not None and not may_claim(study, *budget):
            return None
        # Under the lock: two workers that both saw a dead worker's trial stale would
        # otherwise both fail it on SQLite and enqueue two retries of it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # dead workers' trials: FAIL, then a retry
        _fail_unbeaten(study)
        # Waiting trials (recipes, retries) run only while the total is not reached.
        if len(study.get_trials(deepcopy=False, states=TAKEN)) >= opts.n_trials:
            return None
        with warnings.catch_warnings():
            # Optuna warns that heartbeats expect Study.optimize; _run_one beats them itself.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            return study.ask()


class _Interrupts:
    """SIGINT/SIGTERM: raised inside a trial's objective, deferred everywhere else.

    Between trials (claiming one, telling the study, the progress line) an exception
    could leave a claimed trial RUNNING with no one to fail it, or cut a ``tell`` in
    half; there the signal is remembered and raised at the next safe point instead.
    """

    def __init__(self) -> None:
        self.pending: str | None = None
        self.in_trial = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.in_trial:
            raise Interrupted(name)
        self.pending = name

    def check(self) -> None:
        """Raise a signal that arrived outside a trial."""
        if self.pending is not None:
            raise Interrupted(self.pending)


def _warn_local_folders(opts: RunOptions) -> None:
    """One line when a server storage's workers would keep checkpoints or artifacts apart."""
    if opts.url.file is not None:
        return  # a file storage: its folders sit beside the file every worker shares
    folders = {"--checkpoint-dir": opts.checkpoint_dir}
    if opts.dashboard:
        folders["--artifact-dir"] = opts.artifact_dir
    local = [key for key, f in folders.items() if f is None or not Path(f).is_absolute()]
    if local:
        print(
            f"tricksearch: warning: {' and '.join(local)}: on this machine only (relative or "
            "the default) while the storage is a server: a trial retried on another host starts "
            "over and its artifacts are missing in the dashboard there; give folders every "
            "worker sees ($TRICKSEARCH_CHECKPOINT_DIR, $TRICKSEARCH_ARTIFACT_DIR)",
            file=sys.stderr,
            flush=True,
        )


def _class_info(data: Any) -> tuple[list[str], list[int]]:
    """Classes and counts for the dashboard's study note (unknown for a fit function's data)."""
    return (data.classes, data.class_counts) if data is not None else ([], [])


def _recorder(study: optuna.Study, spec: StudySpec, opts: RunOptions, data: Any) -> Any:
    """The dashboard's per-trial notes and artifacts (None with ``--no-dashboard``)."""
    if not opts.dashboard:
        return None
    from optuna.artifacts import FileSystemArtifactStore

    from search.dashboard import TrialRecorder, annotate_study

    folder = Path(opts.artifact_dir or artifact_dir(opts.url))
    folder.mkdir(parents=True, exist_ok=True)
    if not opts.worker:
        annotate_study(study, spec, *_class_info(data))
    return TrialRecorder(FileSystemArtifactStore(str(folder)), spec.metric)


def _work(
    study: optuna.Study,
    opts: RunOptions,
    objective: Objective,
    progress: Any,
    interrupts: _Interrupts,
) -> None:
    """Claim and run trials until the study is full or this run's timeout has passed."""
    start, failures = time.monotonic(), 0
    budget = _parsed_budget(objective.spec, opts)
    while not opts.timeout or time.monotonic() - start < opts.timeout:
        interrupts.check()
        trial = _claim(study, opts, budget)
        if trial is None:
            return
        TrialWriter(trial).worker(f"{os.uname().nodename}:{os.getpid()}")
        failure = _run_one(study, trial, objective, interrupts)
        failures = failures + 1 if failure else 0
        trials = study.get_trials(deepcopy=False)  # one read serves both
        progress.trial(trials[trial.number], sum(t.state in FINISHED for t in trials))
        if budget is not None:
            progress.write(search_progress(trials, budget[0]))
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise RepeatedFailure(
                f"{failures} trials in a row failed, the last with {failure}; stopping"
            )
    interrupts.check()


def run_study(spec: StudySpec, opts: RunOptions, data: Any = None) -> optuna.Study:
    """Work on the study until it holds ``opts.n_trials`` finished (complete or pruned) trials.

    Each trial is claimed under a per-study lock, so any number of workers, on this
    machine or others sharing the storage, stop at exactly that total. A trial that
    raises is recorded as failed with its reason and the study goes on. SIGINT and
    SIGTERM mark the running trial failed ("interrupted by SIGTERM") and raise
    :class:`Interrupted`; rerunning the same command continues.

    Raises:
        UsageError: Bad storage or data, before anything is written.
        Interrupted: On SIGINT or SIGTERM.
    """
    from tricks.models import model_from_config
    from tricks.sources import load_data
    from tricks.user_code import resolve_callable

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own lines say more, once
    if spec.base.train.fit:  # the user's loop reads its own data and builds its own model
        resolve_callable(spec.base.train.fit, "train.fit")  # fails here, once
    else:
        if data is None:
            data = load_data(spec.base.data, seed=spec.base.train.seed, data_dir=opts.data_dir)
        model_from_config(spec.base.model, data.in_channels, data.num_classes)  # fails here
    study = open_study(spec, opts)
    if finished_count(study) >= opts.n_trials:
        return study
    if not opts.worker:
        _warn_local_folders(opts)
    if not opts.quiet:
        print(f"training on {describe_device(opts.device)}", file=sys.stderr, flush=True)
    recorder = _recorder(study, spec, opts, data)
    total = None if opts.budget else opts.n_trials  # a budget ends the search, not a count
    progress = _Progress(total, finished_count(study), opts.quiet, opts.worker)
    folder = Path(opts.checkpoint_dir) if opts.checkpoint_dir else checkpoint_dir(opts.url)
    objective = Objective(
        spec,
        data,
        opts.device,
        on_epoch=progress.epoch,
        after_trial=recorder,
        torch_ready=opts.torch_ready,
        checkpoints=CheckpointStore(folder, opts.study_name, opts.checkpoint_every),
    )
    interrupts = _Interrupts()
    previous = {s: signal.signal(s, interrupts.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _work(study, opts, objective, progress, interrupts)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        progress.close()
        if recorder is not None and not opts.worker:
            from search.dashboard import annotate_study

            annotate_study(study, spec, *_class_info(data))
    return study


def _interruptible(objective: Objective, trial: optuna.Trial, interrupts: _Interrupts) -> float:
    """The objective, with SIGINT/SIGTERM raised in it (a signal since the claim counts)."""
    interrupts.in_trial = True
    try:
        interrupts.check()
        return objective(trial)
    finally:
        interrupts.in_trial = False


def _run_one(
    study: optuna.Study, trial: optuna.Trial, objective: Objective, interrupts: _Interrupts
) -> str | None:
    """Run the objective on one claimed trial and tell the study how it ended.

    Returns:
        The reason the trial failed, or None when it completed or was pruned.
    """
    reason = None
    with heartbeat(study, trial):
        try:
            value = _interruptible(objective, trial, interrupts)
        except optuna.TrialPruned:
            frozen = study.tell(trial, state=TrialState.PRUNED)
        except Interrupted as exc:
            TrialWriter(trial).failed(f"interrupted by {exc}")
            frozen = study.tell(trial, state=TrialState.FAIL)
            retry_callback()(study, frozen)  # the rerun continues it from its checkpoint
            raise
        except Exception as exc:  # OOM, a data error...: record it, keep the study going
            reason = _reason(exc)
            TrialWriter(trial).failed(reason)
            frozen = study.tell(trial, state=TrialState.FAIL)
            print(f"trial {trial.number} failed: {reason}", file=sys.stderr)
        else:
            frozen = study.tell(trial, value)
    # Only now, with its end stored: a worker killed before the tell leaves the trial
    # RUNNING, and its retry continues from this checkpoint instead of starting over.
    objective.finished(frozen)
    return reason


def _reason(exc: Exception) -> str:
    """A failed trial's reason: the user's config error as its one line, else type and text."""
    from tricks.config import ConfigError
    from tricks.data import DataError

    if isinstance(exc, ConfigError | DataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

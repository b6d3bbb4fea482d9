"""``tricksearch run``: create or resume a study and run it, here or in worker processes."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.commands.options import (
    add_artifact_dir,
    add_checkpoint_dir,
    add_command,
    add_data_options,
    add_overrides,
    add_storage,
    storage_url,
)
from search.defaults import CHECKPOINT_EVERY
from search.errors import UsageError

if TYPE_CHECKING:
    import optuna

    from search.budget import Budget
    from search.runner import RunOptions
    from search.study_file import StudySpec

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p = add_command(
        sub,
        "run",
        "create or resume a study and run it",
        "tricksearch run quickstart --n-trials 16 --workers 2",
    )
    p.add_argument("study_file", help="a study file, or a shipped study's name (quickstart, ...)")
    add_storage(p, fallback="the study file's")
    p.add_argument("--study-name", default=None, help="study name (default: the study file's)")
    p.add_argument("--n-trials", type=int, default=None, help="total finished trials to reach")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--seed", type=int, default=None, help="seed of data split, training, sampler")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    add_artifact_dir(p)
    add_checkpoint_dir(p)
    p.add_argument(
        "--checkpoint-every",
        type=float,
        default=CHECKPOINT_EVERY,
        metavar="SECONDS",
        help=f"write a running trial's checkpoint at most this often "
        f"(default {CHECKPOINT_EVERY:g}; 0: every epoch)",
    )
    p.add_argument("--no-dashboard", action="store_true", help="no trial notes or artifacts")
    p.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        default=None,
        help="do not start a new study with the literature's recipes",
    )
    p.add_argument(
        "--accept-changed-study",
        action="store_true",
        help="resume a study although its study file was edited (recorded in the study)",
    )
    _add_budget(p)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--workers-per-device",
        type=int,
        default=1,
        metavar="K",
        help="workers sharing each GPU (small models; default 1)",
    )
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help="seconds between heartbeats; a trial silent for 3 beats is retried (RDB storages)",
    )
    add_data_options(p)
    add_overrides(p)
    p.set_defaults(func=command)


def _add_budget(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--budget",
        default=None,
        metavar="B",
        help="epochs (1300ep) or training time (90m, 3h; summed over --workers) for the "
        "search and a final training of its best config on the rest (default: the study "
        "file's [study] budget)",
    )
    p.add_argument("--output", default=None, help="with a budget: the final model's folder")


def _check(args: argparse.Namespace) -> None:
    for name, value, low, unit in (
        ("--n-trials", args.n_trials, 1, ""),
        ("--workers", args.workers, 1, ""),
        ("--workers-per-device", args.workers_per_device, 1, ""),
        ("--heartbeat", args.heartbeat, 1, " second"),
    ):
        if value is not None and value < low:
            raise UsageError(f"{name} must be >= {low}{unit}, got {value}")
    if not args.checkpoint_every >= 0:  # NaN too
        raise UsageError(f"--checkpoint-every must be >= 0 seconds, got {args.checkpoint_every}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")


def _options(args: argparse.Namespace, spec: StudySpec) -> RunOptions:
    from search.device import resolve_device
    from search.runner import RunOptions

    return RunOptions(
        storage=storage_url(args, fallback=spec.storage),
        study_name=args.study_name or spec.name,
        n_trials=args.n_trials or spec.n_trials,
        timeout=args.timeout or spec.timeout,
        device="cpu" if args.workers > 1 else resolve_device(args.device),
        data_dir=args.data_dir,
        quiet=args.quiet,
        artifact_dir=args.artifact_dir,
        dashboard=not args.no_dashboard,
        heartbeat=args.heartbeat,
        torch_ready=args.torch_ready,
        warm_start=args.warm_start,
        accept_changed_study=args.accept_changed_study,
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        budget=args.budget or spec.budget,
    )


def command(args: argparse.Namespace) -> int:
    from search.shipped import study_path
    from search.study_file import load_study_file
    from tricks.user_code import add_search_dir

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    args.study_file = str(study_path(args.study_file))  # a shipped name: its file
    spec = load_study_file(args.study_file, overrides)
    _check(args)
    add_search_dir(Path(args.study_file).parent)  # factory modules next to the study file
    opts = _options(args, spec)
    budget = None
    if opts.budget:
        from search.budget import most_epochs, parse_budget

        budget = parse_budget(opts.budget, most_epochs(spec.to_dict()))  # bad input: first
        opts.n_trials = max(opts.n_trials, 10_000) if not args.n_trials else opts.n_trials
    run = _run_workers if args.workers > 1 else _run_here
    study, code = run(args, spec, opts)
    if code or study is None:
        return code
    if budget is not None:
        return _finish_budget(args, spec, opts, study, budget)
    _print_best(study, spec, opts)
    return 0


def _finish_budget(
    args: argparse.Namespace,
    spec: StudySpec,
    opts: RunOptions,
    study: optuna.Study,
    budget: Budget,
) -> int:
    """The final training on the rest of the budget; its folder's files as the last lines."""
    from search.budget import finish
    from search.device import resolve_device
    from search.runner import Interrupted

    output = Path(args.output or Path("runs") / f"{opts.study_name}-budget")
    try:
        metrics = finish(study, opts.storage, budget, output, resolve_device(args.device),
                         args.data_dir)  # fmt: skip
    except (KeyboardInterrupt, Interrupted):
        print("tricksearch: interrupted: the final training continues from its checkpoint "
              "when you run the same command again", file=sys.stderr)  # fmt: skip
        return 130
    test = metrics["test"][spec.metric] if metrics["test"] else float("nan")
    print(f"final model: {spec.metric} val {metrics['value']:.4f}, test {test:.4f}")
    for name in ("model.pt", "metrics.json", "best.toml", "report/report.md"):
        print(f"  {output / name}")
    return 0


def _run_workers(
    args: argparse.Namespace, spec: StudySpec, opts: RunOptions
) -> tuple[optuna.Study | None, int]:
    from search.runner import open_study
    from search.workers import spawn_workers
    from tricks.models import model_from_config
    from tricks.sources import data_info
    from tricks.user_code import resolve_callable

    # Fail on bad data, model or storage here, once, before any worker starts; this
    # fills the prepared-data cache, so the workers load tensors, and reads only metadata.
    info: dict[str, Any] = {"classes": [], "class_counts": []}
    if spec.base.train.fit:  # the user's loop reads its own data
        resolve_callable(spec.base.train.fit, "train.fit")
    else:
        info = data_info(spec.base.data, seed=spec.base.train.seed, data_dir=args.data_dir)
        model_from_config(spec.base.model, info["in_channels"], len(info["classes"]))
    study = open_study(spec, opts)
    code = spawn_workers(spec, opts, args.workers, args.device, args.workers_per_device)
    if opts.dashboard:
        from search.dashboard import annotate_study

        annotate_study(study, spec, info["classes"], info["class_counts"])
    if code != 0:
        print(f"tricksearch: a worker exited with status {code}", file=sys.stderr)
        return study, 1 if code > 0 else 130
    return study, 0


def _run_here(
    args: argparse.Namespace, spec: StudySpec, opts: RunOptions
) -> tuple[optuna.Study | None, int]:
    from search.runner import Interrupted, RepeatedFailure, run_study

    try:
        return run_study(spec, opts), 0
    except RepeatedFailure as exc:
        print(f"tricksearch: {exc}", file=sys.stderr)
        return None, 1
    except Interrupted as exc:
        print(
            f"tricksearch: interrupted by {exc}: the running trial is marked failed, "
            "finished trials are kept; run the same command again to continue",
            file=sys.stderr,
        )
        return None, 130


def _print_best(study: optuna.Study, spec: StudySpec, opts: RunOptions) -> None:
    from search.record import TrialRecord, or_nan

    try:
        best = study.best_trial
    except ValueError:
        print(f"study {opts.study_name!r}: no completed trial yet")
        return
    record = TrialRecord(best)
    print(
        f"best trial {best.number}: {spec.metric} {best.value:.4f} "
        f"(before fine-tune {or_nan(record.pre_finetune_value):.4f}, "
        f"restarts {len(record.restarts)})"
    )
    for key, value in best.params.items():
        print(f"  {key} = {value}")
    storage, name = shlex.quote(opts.url.redacted()), shlex.quote(opts.study_name)
    print("next:")
    print(f"  tricksearch dashboard --storage {storage}")
    print(f"  tricksearch export --storage {storage} --study {name} --output best.toml")
    print(
        f"  tricksearch train best.toml   # or --epochs N: trained longer than the trials' "
        f"{spec.base.train.epochs} epochs, in proportion"
    )

"""The ``tricksearch`` command line: train, run, export, studies, dashboard, report."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from search.errors import UsageError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: "--work 2" must not pass for "--workers 2" (the workers'
        # argument lists are built by removing the exact option).
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})

    def error(self, message: str) -> NoReturn:
        # One line, not usage + error: the CLI's contract for user mistakes.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tricksearch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tricksearch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
        p.add_argument("--data-dir", default=None, help="dataset root (torchvision style)")
        p.add_argument(
            "--set",
            dest="overrides",
            action="append",
            default=[],
            metavar="SECTION.KEY=VALUE",
            help="override a config field; repeatable",
        )

    p = sub.add_parser("train", help="train once with a trick config")
    p.add_argument("config", help="trick config TOML (e.g. examples/fashion_mnist_lt.toml)")
    p.add_argument("--output", default=None, help="output directory (default runs/<config name>)")
    common(p)

    p = sub.add_parser("run", help="create or resume a study and run it")
    p.add_argument("study_file", help="study definition, e.g. studies/quickstart.toml")
    p.add_argument("--storage", default=None, help="storage URL (default: the study file's)")
    p.add_argument("--study-name", default=None, help="study name (default: the study file's)")
    p.add_argument(
        "--n-trials", type=int, default=None, help="total finished trials the study should reach"
    )
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--seed", type=int, default=None, help="seed of data split, training, sampler")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--artifact-dir",
        default=None,
        help="artifact store folder (default: beside a file storage)",
    )
    p.add_argument(
        "--checkpoint-dir",
        default=None,
        help="per-epoch trial checkpoints (default: <db>_checkpoints beside a file storage)",
    )
    p.add_argument(
        "--no-dashboard",
        action="store_true",
        help="skip trial notes and artifacts for optuna-dashboard",
    )
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
    p.add_argument(
        "--workers", type=int, default=1, help="worker processes on this machine (default 1)"
    )
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help="seconds between worker heartbeats; a trial silent for 3 beats is failed and "
        "retried once (RDB storages)",
    )
    common(p)

    p = sub.add_parser("export", help="write the best trial's trick config")
    p.add_argument("--storage", default=None, help="storage URL (default sqlite:///tricksearch.db)")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--top", type=int, default=1, help="export the K best trials")
    p.add_argument("--output", default="best.toml", help="output file")
    p.add_argument("--format", choices=("toml", "json"), default="toml")

    p = sub.add_parser("studies", help="list the studies of a storage")
    p.add_argument("--storage", default=None, help="storage URL (default sqlite:///tricksearch.db)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("dashboard", help="start optuna-dashboard on a storage")
    p.add_argument("--storage", default=None, help="storage URL (default sqlite:///tricksearch.db)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--artifact-dir", default=None, help="artifact store folder")
    p = sub.add_parser("ablate", help="retrain the best config with one trick at a time off")
    p.add_argument("--storage", default=None, help="storage URL (default sqlite:///tricksearch.db)")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    p.add_argument("--top", type=int, default=1, help="ablate the N best configs (default 1)")
    p.add_argument("--output", default=None, help="output directory (default ablation-<study>)")
    p.add_argument("--artifact-dir", default=None, help="artifact store folder")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="dataset root (torchvision style)")

    p = sub.add_parser("report", help="write a Markdown report with figures for a study")
    p.add_argument("--storage", default=None, help="storage URL (default sqlite:///tricksearch.db)")
    p.add_argument("--study", required=True, help="study name")
    p.add_argument("--output", default=None, help="output directory (default report-<study>)")
    p.add_argument(
        "--no-test",
        action="store_true",
        help="skip retraining the best config for its test-split metrics",
    )
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="dataset root (torchvision style)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tricksearch")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _default_storage(url: str | None) -> str:
    from search.study_file import DEFAULT_STORAGE

    return url or os.environ.get("TRICKSEARCH_STORAGE") or DEFAULT_STORAGE


def _cmd_train(args: argparse.Namespace) -> int:
    from search.device import resolve_device
    from search.train_cmd import load_trick_config, run_train

    config = load_trick_config(args.config, args.overrides)
    device = resolve_device(args.device)
    output = Path(args.output or Path("runs") / Path(args.config).stem)
    metrics = run_train(config, output, device, args.data_dir)
    print(
        f"{config.train.metric}: val {metrics['value']:.4f} "
        f"(before fine-tune {metrics['pre_finetune_value']:.4f}), "
        f"test {metrics['test'][config.train.metric]:.4f}"
    )
    print(f"wrote {output / 'metrics.json'}, {output / 'model.pt'}, {output / 'config.toml'}")
    return 0


def _cmd_run(args: argparse.Namespace, argv: Sequence[str], torch_ready: float) -> int:
    from search.device import resolve_device
    from search.record import TrialRecord
    from search.runner import Interrupted, RunOptions, open_study, run_study
    from search.storage import redact
    from search.study_file import load_study_file

    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    spec = load_study_file(args.study_file, overrides)
    if args.n_trials is not None and args.n_trials < 1:
        raise UsageError(f"--n-trials must be >= 1, got {args.n_trials}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be > 0 seconds, got {args.timeout}")
    if args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    if args.heartbeat < 1:
        raise UsageError(f"--heartbeat must be >= 1 second, got {args.heartbeat}")
    worker = os.environ.get("TRICKSEARCH_WORKER", "")
    if worker:
        args.workers = 1  # a worker never spawns workers of its own
    if os.environ.get("TRICKSEARCH_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["TRICKSEARCH_THREADS"]))
    opts = RunOptions(
        storage=args.storage or os.environ.get("TRICKSEARCH_STORAGE") or spec.storage,
        study_name=args.study_name or spec.name,
        n_trials=args.n_trials or spec.n_trials,
        timeout=args.timeout or spec.timeout,
        device="cpu" if args.workers > 1 else resolve_device(args.device),
        data_dir=args.data_dir,
        quiet=args.quiet,
        artifact_dir=args.artifact_dir,
        dashboard=not args.no_dashboard,
        heartbeat=args.heartbeat,
        worker=worker,
        torch_ready=torch_ready,
        warm_start=args.warm_start,
        accept_changed_study=args.accept_changed_study,
        checkpoint_dir=args.checkpoint_dir,
    )
    if args.workers > 1:
        from search.workers import spawn_workers
        from tricks.data import bundle_info

        # Fail on bad data or storage here, once, before any worker starts; this fills
        # the prepared-data cache, so the workers load tensors, and reads only metadata.
        info = bundle_info(spec.base.data, seed=spec.base.train.seed, data_dir=args.data_dir)
        study = open_study(spec, opts)
        code = spawn_workers(argv, args.workers, args.device)
        if opts.dashboard:
            from search.dashboard import annotate_study

            annotate_study(study, spec, info["classes"], info["class_counts"])
        if code != 0:
            print(f"tricksearch: a worker exited with status {code}", file=sys.stderr)
            return 1 if code > 0 else 130
    else:
        try:
            study = run_study(spec, opts)
        except Interrupted as exc:
            print(
                f"tricksearch: interrupted by {exc}: the running trial is marked failed, "
                "finished trials are kept; run the same command again to continue",
                file=sys.stderr,
            )
            return 130
    if worker:
        return 0
    storage = redact(opts.storage)
    try:
        best = study.best_trial
    except ValueError:
        print(f"study {opts.study_name!r}: no completed trial yet")
        return 0
    record = TrialRecord(best)
    pre = record.pre_finetune_value
    print(
        f"best trial {best.number}: {spec.metric} {best.value:.4f} "
        f"(before fine-tune {pre if pre is not None else float('nan'):.4f}, "
        f"restarts {len(record.restarts)})"
    )
    for key, value in best.params.items():
        print(f"  {key} = {value}")
    q = shlex.quote
    print("next:")
    print(f"  tricksearch dashboard --storage {q(storage)}")
    name = q(opts.study_name)
    print(f"  tricksearch export --storage {q(storage)} --study {name} --output best.toml")
    print("  tricksearch train best.toml")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from search.export import export_configs

    if args.top < 1:
        raise UsageError(f"--top must be >= 1, got {args.top}")
    paths = export_configs(
        _default_storage(args.storage), args.study, args.top, Path(args.output), args.format
    )
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_studies(args: argparse.Namespace) -> int:
    from search.export import study_table

    rows = study_table(_default_storage(args.storage))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no studies")
        return 0
    print(
        f"{'study':24s} {'metric':18s} {'trials':>6s} {'done':>5s} {'pruned':>6s} "
        f"{'fail':>5s} {'run':>4s} {'best':>8s}"
    )
    for r in rows:
        best = f"{r['best_value']:.4f}" if r["best_value"] is not None else "-"
        print(
            f"{r['name']:24s} {r['metric']:18s} {r['trials']:6d} {r['complete']:5d} "
            f"{r['pruned']:6d} {r['fail']:5d} {r['running']:4d} {best:>8s}"
        )
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from search.dashboard import serve

    serve(_default_storage(args.storage), args.host, args.port, args.artifact_dir)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from search.device import resolve_device
    from search.report import build_report

    device = resolve_device(args.device)
    output = Path(args.output or f"report-{args.study}")
    path = build_report(
        _default_storage(args.storage),
        args.study,
        output,
        device,
        args.data_dir,
        evaluate_test=not args.no_test,
    )
    print(f"wrote {path}")
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from search.ablate import ablate
    from search.device import resolve_device

    path = ablate(
        _default_storage(args.storage),
        args.study,
        args.seeds,
        args.top,
        resolve_device(args.device),
        Path(args.output) if args.output else None,
        args.data_dir,
        args.artifact_dir,
    )
    print(path.read_text())
    print(f"wrote {path}, {path.with_suffix('.json')}, {path.with_suffix('.png')}")
    return 0


_COMMANDS = {
    "ablate": _cmd_ablate,
    "train": _cmd_train,
    "export": _cmd_export,
    "studies": _cmd_studies,
    "dashboard": _cmd_dashboard,
    "report": _cmd_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tricksearch`` console script; returns the exit status."""
    import time
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _build_parser().parse_args(argv)
    import torch  # noqa: F401  # first, so that start-up is timed from here

    torch_ready = time.perf_counter()
    from optuna.exceptions import ExperimentalWarning

    from tricks.config import ConfigError
    from tricks.data import DataError

    # Heartbeats and the retry callback are "experimental" in Optuna; users need not see that.
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    try:
        if args.command == "run":
            return _cmd_run(args, argv, torch_ready)
        return _COMMANDS[args.command](args)
    except (UsageError, ConfigError, DataError) as exc:
        print(f"tricksearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tricksearch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

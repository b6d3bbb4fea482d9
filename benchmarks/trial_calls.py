"""Where a trial's time outside epochs goes, call by call, in a real in-process ``run``.

Runs the quickstart study through ``search.cli.main`` in this process (SQLite, dashboard
notes and artifacts on) with a wall-clock timer around each call on the trial path that
is not a training epoch: the search-space draws, each epoch's report and pruner question,
the storage reads under them, user attributes, ``ask`` and ``tell``, model set-up,
checkpoints, and the dashboard hook's figure, note and uploads. Rows nest (the storage
reads happen inside the draws and the pruner; the figure inside the hook), so they do
not add up. Each row is the median over trials of that call's milliseconds per trial,
the process's first trial left out (it pays one-time imports and warm-up). The timers
cost a few microseconds a call.

    python benchmarks/trial_calls.py [--trials 8] [--out benchmarks/results]

It writes ``trial_calls.md`` and ``trial_calls.json``; ``benchmarks/overhead.py`` measures
the share itself (out of process, several runs) and this script says where it goes.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from results_io import write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (label, module path, attribute path): the calls timed, in the order they are reported.
CALLS: list[tuple[str, str, str]] = [
    ("ask (a new trial row)", "optuna.study", "Study.ask"),
    ("search-space draws (sampler, one write per parameter)", "search.objective", "suggest_config"),
    ("  parameter writes", "optuna.storages._cached_storage", "_CachedStorage.set_trial_param"),
    ("model and trainer set-up", "tricks.trainer", "Trainer.__init__"),
    ("epoch reports (Trial.report)", "optuna.trial", "Trial.report"),
    ("pruner questions (Trial.should_prune)", "optuna.trial", "Trial.should_prune"),
    (
        "  the pruner (restart-on-prune around Median; reads the finished trials)",
        "search.pruner",
        "RestartOnPrunePruner.prune",
    ),
    (
        "trial reads (get_trial, any caller)",
        "optuna.storages._cached_storage",
        "_CachedStorage.get_trial",
    ),
    (
        "study reads (get_all_trials, any caller)",
        "optuna.storages._cached_storage",
        "_CachedStorage.get_all_trials",
    ),
    ("user attributes", "optuna.trial", "Trial.set_user_attr"),
    ("checkpoints (save, remove)", "search.checkpoints", "CheckpointStore.save"),
    ("checkpoints (save, remove)", "search.checkpoints", "CheckpointStore.remove"),
    ("dashboard hook (note, figure, uploads)", "search.dashboard", "TrialRecorder.__call__"),
    ("  learning-curve figure", "search.figures", "learning_curve_png"),
    ("  note", "optuna_dashboard", "save_note"),
    ("  artifact uploads", "search.dashboard", "upload_artifact"),
    ("tell", "optuna.study", "Study.tell"),
]

# Per trial: label -> [seconds, calls]. A new trial starts at each ``ask``.
_trials: list[dict[str, list[float]]] = []


def _timed(label: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        if label.startswith("ask"):
            _trials.append(defaultdict(lambda: [0.0, 0]))
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if _trials:
                cell = _trials[-1][label]
                cell[0] += time.perf_counter() - start
                cell[1] += 1

    return timed


def _install() -> None:
    import importlib

    for label, module_name, path in CALLS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        setattr(owner, name, _timed(label, getattr(owner, name)))


def measure(trials: int) -> dict[str, Any]:
    """Run ``trials`` quickstart trials in this process; per call, median ms per trial."""
    from tricks.allocator import keep_freed_memory

    keep_freed_memory()  # as the CLI's entry point does, before torch is imported
    import optuna

    from search import cli

    _install()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/calls.db"
        study_file = str(ROOT / "studies/quickstart.toml")
        try:
            cli.main(["run", study_file, "--storage", url, "--n-trials", str(trials), "--quiet"])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        done = optuna.load_study(study_name="quickstart", storage=url).trials
    outside = [  # trial wall time less its epochs', in ms
        (t.duration.total_seconds() - sum(p["seconds"] for p in t.user_attrs["curve"])) * 1000
        for t in done[1:]
        if t.duration is not None
    ]
    later = _trials[1:]
    rows = {}
    for label in dict.fromkeys(label for label, _, _ in CALLS):  # one row per label
        per_trial = [t[label][0] * 1000 if label in t else 0.0 for t in later]
        calls = [t[label][1] if label in t else 0 for t in later]
        rows[label] = {"ms_per_trial": statistics.median(per_trial), "calls": sum(calls)}
    return {
        "trials_measured": len(later),
        "median_outside_ms": statistics.median(outside),
        "median_epochs_per_trial": statistics.median(
            len(t.user_attrs.get("curve", [])) for t in done[1:]
        ),
        "rows": rows,
    }


def table(result: dict[str, Any]) -> list[str]:
    """The per-call table, in Markdown."""
    n = result["trials_measured"]
    return [
        f"| call on the trial path ({n} trials, first left out; rows nest) "
        "| ms per trial (median) | calls in all |",
        "|---|---|---|",
        *[
            f"| {label.strip() if not label.startswith('  ') else '- ' + label.strip()} "
            f"| {row['ms_per_trial']:.1f} | {row['calls']} |"
            for label, row in result["rows"].items()
        ],
        "",
        f"Median outside epochs per trial in this run: {result['median_outside_ms']:.0f} ms "
        f"(trials of median {result['median_epochs_per_trial']:.0f} epochs).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    result = measure(args.trials)
    lines = [
        "Where a quickstart trial's time outside epochs goes, call by call "
        "(`benchmarks/trial_calls.py`: one in-process `run`, SQLite, notes and artifacts on).",
        "",
        *table(result),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, "trial_calls", lines, result)


if __name__ == "__main__":
    main()

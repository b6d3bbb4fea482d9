"""Overhead outside training, and trials per hour with 2 workers vs 1, via the real CLI.

Overhead: for each trial of a real ``tricksearch run`` (SQLite, dashboard notes and
artifacts on), the share of its wall time not spent in training/evaluation epochs:
sampler, storage writes, checkpoints, model set-up, notes and artifacts. Two arms
alternate on the same trials (checked): as shipped (a trial's checkpoint at most every
30 s) and ``--checkpoint-every 0`` (one after every epoch, as before); each reports
its run wall time and trials/hour too.
Scaling: the same study run with ``--workers 1`` and ``--workers 2``, alternating, wall
time for N trials.

    python benchmarks/overhead.py [--trials 8] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from results_io import write_results  # noqa: E402

from search.record import HOOK_SECONDS, STARTUP, TrialRecord  # noqa: E402

# The quickstart study as shipped (5 + 3 epochs, head class 3000 images): trials of ~16 s.
QUICKSTART_ARGS = ["--device", "cpu", "--quiet"]


# The arms of the overhead measurement: as shipped (a trial's checkpoint at most every
# 30 s), and a checkpoint after every epoch (the behaviour before --checkpoint-every).
ARMS: dict[str, list[str]] = {
    "as shipped": [],
    "a checkpoint every epoch": ["--checkpoint-every", "0"],
}


def run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        cwd=cwd,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
    )
    return time.perf_counter() - start


def trial_shares(trials: list[optuna.trial.FrozenTrial]) -> dict[str, list[float]]:
    """Per finished trial: wall time, and the shares outside epochs and in the hook."""
    out: dict[str, list[float]] = {"wall": [], "overhead": [], "hook": [], "seconds": []}
    for t in trials:
        if t.datetime_complete is None or t.datetime_start is None:
            continue
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        record = TrialRecord(t)
        epochs = sum(p["seconds"] for p in record.curve)
        out["wall"].append(wall)
        out["overhead"].append((wall - epochs) / wall)
        out["seconds"].append(wall - epochs)
        out["hook"].append(record.attr(HOOK_SECONDS, 0.0) / wall)
    return out


def overhead(trials: int, reps: int, cwd: Path) -> dict[str, dict[str, float]]:
    """Each arm's overhead shares (medians over all its trials) and run wall time."""
    pooled: dict[str, dict[str, list[float]]] = {arm: defaultdict(list) for arm in ARMS}
    walls: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for rep in range(reps):
        values = []  # each arm's trial values (None for pruned): equal when the trials are
        for i, (arm, extra) in enumerate(ARMS.items()):
            url = f"sqlite:///{cwd / f'overhead-{i}-{rep}.db'}"
            args = ["run", str(ROOT / "studies/quickstart.toml"), "--storage", url]
            args += ["--n-trials", str(trials), *extra, *QUICKSTART_ARGS]
            walls[arm].append(run(args, cwd))
            done = optuna.load_study(study_name="quickstart", storage=url).trials
            for key, shares in trial_shares(done).items():
                pooled[arm][key] += shares
            values.append([t.value for t in done])
            print(f"rep {rep} {arm}: {walls[arm][-1]:.0f}s", flush=True)
        if any(v != values[0] for v in values):
            raise SystemExit(f"rep {rep}: the arms ran different trials: {values}")
    result = {}
    for arm, v in pooled.items():
        med = statistics.median
        result[arm] = {
            "trials": len(v["wall"]),
            "median_trial_seconds": med(v["wall"]),
            "median_overhead_share": med(v["overhead"]),
            "max_overhead_share": max(v["overhead"]),
            "median_overhead_seconds": med(v["seconds"]),
            "median_notes_artifacts_share": med(v["hook"]),
            # The rest: sampling, storage writes (reports, user attributes), checkpoints,
            # model set-up.
            "median_other_share": med(o - h for o, h in zip(v["overhead"], v["hook"], strict=True)),
            "median_run_wall": med(walls[arm]),
            "trials_per_hour": trials * 3600 / med(walls[arm]),
        }
    return result


FRESH, REUSED = "fresh figure per trial (before)", "reused frame (as shipped)"


def figure_ms(db: Path, reps: int) -> dict[str, float]:
    """The learning-curve figure alone, side by side: a fresh figure per trial (as before)
    vs the reused frame (as shipped), on the curves of a run's own trials, alternating.
    """
    from search.figures import learning_curve_png

    study = optuna.load_study(study_name="quickstart", storage=f"sqlite:///{db}")
    cases = [(r.curve, r.restarts) for r in map(TrialRecord, study.trials) if r.curve]
    arms = {FRESH: True, REUSED: False}
    times: dict[str, list[float]] = {name: [] for name in arms}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "curve.png"
        learning_curve_png(*cases[0], "balanced_accuracy", path)  # import, fonts: once
        for _ in range(reps):
            for curve, restarts in cases:
                for name, fresh in arms.items():
                    start = time.perf_counter()
                    learning_curve_png(curve, restarts, "balanced_accuracy", path, fresh=fresh)
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) * 1000 for name, ts in times.items()}


def startup_seconds(records: list[TrialRecord]) -> list[float]:
    """Each process's seconds from importing torch to its first training batch."""
    return [r.attr(STARTUP) for r in records if r.attr(STARTUP) is not None]


def worker_time(
    records: list[TrialRecord], startups: list[float], wall: float, workers: int
) -> dict[str, float]:
    """Where the workers' time went in one run: epochs, the rest of each trial, start-up, idle.

    The total is ``workers * wall``. "Idle" is what is left: interpreter and torch
    imports (before the start-up clock), work between trials, and the tail where one
    worker has finished and waits for the other.
    """
    trial_s = sum(
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in (r.trial for r in records)
        if t.datetime_complete is not None and t.datetime_start is not None
    )
    epochs = [p["seconds"] for r in records for p in r.curve]
    train = [p["seconds"] for r in records for p in r.curve if p["phase"] == "train"]
    startup = sum(startups)
    total = workers * wall
    return {
        "epochs": len(epochs),
        "epochs_per_hour": len(epochs) * 3600 / wall,
        "median_train_epoch_s": statistics.median(train),
        "epochs_share": sum(epochs) / total,
        "trial_rest_share": (trial_s - sum(epochs)) / total,
        "startup_share": startup / total,
        "idle_share": (total - trial_s - startup) / total,
    }


def scaling(
    trials: int, reps: int, cwd: Path
) -> tuple[dict[str, list[float]], dict, dict[str, list[dict[str, float]]]]:
    walls: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    startups: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    splits: dict[str, list[dict[str, float]]] = {"1 worker": [], "2 workers": []}
    for rep in range(reps):
        for label, workers in (("1 worker", 1), ("2 workers", 2)):
            url = f"sqlite:///{cwd / f'scale-{workers}-{rep}.db'}"
            walls[label].append(
                run(
                    [
                        "run",
                        str(ROOT / "studies/quickstart.toml"),
                        "--storage",
                        url,
                        "--n-trials",
                        str(trials),
                        "--workers",
                        str(workers),
                        "--no-dashboard",
                        *QUICKSTART_ARGS,
                    ],
                    cwd,
                )
            )
            study = optuna.load_study(study_name="quickstart", storage=url)
            records = [TrialRecord(t) for t in study.trials]
            started = startup_seconds(records)
            startups[label] += started
            splits[label].append(worker_time(records, started, walls[label][-1], workers))
            print(f"rep {rep} {label}: {walls[label][-1]:.0f}s", flush=True)
    return walls, startups, splits


def breakdown_lines(splits: dict[str, list[dict[str, float]]]) -> list[str]:
    """The scaling table: each setting's epoch speed and where its worker time went."""
    med = {k: {f: statistics.median(d[f] for d in v) for f in v[0]} for k, v in splits.items()}
    one, two = med["1 worker"]["median_train_epoch_s"], med["2 workers"]["median_train_epoch_s"]
    rows = [
        f"| {k} | {m['epochs']:.0f} | {m['epochs_per_hour']:.0f} "
        f"| {m['median_train_epoch_s']:.2f} | {m['epochs_share'] * 100:.0f}% "
        f"| {m['trial_rest_share'] * 100:.0f}% | {m['startup_share'] * 100:.0f}% "
        f"| {m['idle_share'] * 100:.0f}% |"
        for k, m in med.items()
    ]
    return [
        "Where the workers' time goes (medians over reps; shares of workers x wall time):",
        "",
        "| setting | epochs run | epochs/hour | training epoch (s) | in epochs "
        "| rest of trials | start-up | imports before torch, between trials, idle tail |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Epoch speed alone bounds the gain: one worker's epoch on 2 threads takes {one:.2f}s, "
        f"each of two workers' epochs on 1 thread {two:.2f}s, so 2 workers can give at most "
        f"2 x {one:.2f} / {two:.2f} = {2 * one / two:.2f}x the trials/hour before start-up "
        "and idle time. Trials/hour also moves with the number of epochs the trials ran: "
        "with two workers the pruner judges each trial against fewer finished ones.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arms = overhead(args.trials, args.reps, Path(tmp))
        print(json.dumps(arms, indent=1), flush=True)
        figure = figure_ms(Path(tmp) / "overhead-0-0.db", max(3, args.reps))
        walls, startups, splits = scaling(args.trials, args.reps, Path(tmp))
    per_hour = {k: args.trials * 3600 / statistics.median(v) for k, v in walls.items()}
    lines = [
        *overhead_lines(arms, args.trials, args.reps),
        "",
        *figure_lines(figure),
        "",
        *scaling_lines(walls, per_hour, args.trials, args.reps),
        "",
        *breakdown_lines(splits),
        "",
        startup_line(startups),
    ]
    data = {
        "overhead": arms,
        "figure_ms": figure,
        "walls": walls,
        "per_hour": per_hour,
        "startup_seconds": startups,
        "worker_time": splits,
    }
    write_results(args.out, "overhead", lines, data)


def overhead_lines(arms: dict[str, Any], trials: int, reps: int) -> list[str]:
    """The overhead table: each arm's share of trial time outside training epochs."""
    o = arms["as shipped"]
    return [
        f"Overhead outside training epochs: median {o['median_overhead_share'] * 100:.1f}% of "
        f"trial wall time (max {o['max_overhead_share'] * 100:.1f}%; notes and artifacts "
        f"{o['median_notes_artifacts_share'] * 100:.1f}%), {o['trials']} trials of median "
        f"{o['median_trial_seconds']:.1f}s ({reps} runs of {trials} trials).",
        "",
        "| arm (quickstart, 1 worker, SQLite, notes and artifacts on; runs alternating) "
        "| overhead | notes and artifacts | the rest | outside epochs per trial (s) "
        "| median trial (s) | run wall (s) | trials/hour |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {arm} | {a['median_overhead_share'] * 100:.1f}% "
            f"| {a['median_notes_artifacts_share'] * 100:.1f}% "
            f"| {a['median_other_share'] * 100:.1f}% | {a['median_overhead_seconds']:.3f} "
            f"| {a['median_trial_seconds']:.1f} "
            f"| {a['median_run_wall']:.0f} | {a['trials_per_hour']:.0f} |"
            for arm, a in arms.items()
        ],
        "",
        "The rest: the sampler, storage writes (reports, user attributes), checkpoints, "
        "model set-up. Run wall includes start-up. Both arms run the same trials (same seed; "
        "values checked equal), so their differences are timing alone; shares are medians "
        "over all trials of all runs.",
    ]


def figure_lines(figure: dict[str, float]) -> list[str]:
    return [
        "| learning-curve figure, this run's curves, alternating | median ms per figure |",
        "|---|---|",
        *[f"| {name} | {ms:.0f} |" for name, ms in figure.items()],
        "",
        f"Fresh / reused: {figure[FRESH] / figure[REUSED]:.2f}x.",
    ]


def scaling_lines(
    walls: dict[str, list[float]], per_hour: dict[str, float], trials: int, reps: int
) -> list[str]:
    return [
        f"| workers ({trials} trials, {reps} alternating reps, --no-dashboard) "
        "| median wall (s) | trials/hour |",
        "|---|---|---|",
        *[f"| {k} | {statistics.median(v):.0f} | {per_hour[k]:.0f} |" for k, v in walls.items()],
        "",
        f"2 workers / 1 worker: {per_hour['2 workers'] / per_hour['1 worker']:.2f}x trials/hour.",
    ]


def startup_line(startups: dict[str, list[float]]) -> str:
    return (
        "Start-up, torch imported to first training batch, per process (the data cache "
        "filled by the first run): "
        + "; ".join(
            f"{k}: median {statistics.median(v):.2f}s, max {max(v):.2f}s over {len(v)}"
            for k, v in startups.items()
            if v
        )
        + "."
    )


if __name__ == "__main__":
    main()

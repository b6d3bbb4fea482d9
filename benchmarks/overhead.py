"""Overhead outside training, and trials per hour with 2 workers vs 1, via the real CLI.

Overhead: for each trial of a real ``tricksearch run`` (SQLite, dashboard notes and
artifacts on), the share of its wall time not spent in training/evaluation epochs:
sampler, storage writes, model set-up, notes and artifact pictures. Scaling: the same
study run with ``--workers 1`` and ``--workers 2``, alternating, wall time for N trials.

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
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from search.record import HOOK_SECONDS, STARTUP, TrialRecord  # noqa: E402

# The quickstart study as shipped (5 + 3 epochs, head class 3000 images): trials of ~16 s.
QUICKSTART_ARGS = ["--device", "cpu", "--quiet"]


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


def overhead(trials: int, cwd: Path) -> dict[str, float]:
    url = f"sqlite:///{cwd / 'overhead.db'}"
    run(
        [
            "run",
            str(ROOT / "studies/quickstart.toml"),
            "--storage",
            url,
            "--n-trials",
            str(trials),
            *QUICKSTART_ARGS,
        ],
        cwd,
    )
    study = optuna.load_study(study_name="quickstart", storage=url)
    shares, hooks, durations = [], [], []
    for t in study.trials:
        if t.datetime_complete is None:
            continue
        wall = (t.datetime_complete - t.datetime_start).total_seconds()
        record = TrialRecord(t)
        epochs = sum(p["seconds"] for p in record.curve)
        durations.append(wall)
        shares.append((wall - epochs) / wall)
        hooks.append(record.attr(HOOK_SECONDS, 0.0) / wall)
    return {
        "trials": len(shares),
        "median_trial_seconds": statistics.median(durations),
        "median_overhead_share": statistics.median(shares),
        "max_overhead_share": max(shares),
        "median_notes_artifacts_share": statistics.median(hooks),
        # The rest: sampling, storage writes (reports, user attributes), model set-up.
        "median_other_share": statistics.median(s - h for s, h in zip(shares, hooks, strict=True)),
    }


def startup_seconds(url: str) -> list[float]:
    """Each process's seconds from importing torch to its first training batch."""
    study = optuna.load_study(study_name="quickstart", storage=url)
    records = [TrialRecord(t) for t in study.trials]
    return [r.attr(STARTUP) for r in records if r.attr(STARTUP) is not None]


def scaling(trials: int, reps: int, cwd: Path) -> tuple[dict[str, list[float]], dict]:
    walls: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
    startups: dict[str, list[float]] = {"1 worker": [], "2 workers": []}
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
            startups[label] += startup_seconds(url)
            print(f"rep {rep} {label}: {walls[label][-1]:.0f}s", flush=True)
    return walls, startups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        o = overhead(args.trials, Path(tmp))
        print(json.dumps(o, indent=1), flush=True)
        walls, startups = scaling(args.trials, args.reps, Path(tmp))
    per_hour = {k: args.trials * 3600 / statistics.median(v) for k, v in walls.items()}
    lines = [
        f"Overhead outside training epochs: median {o['median_overhead_share'] * 100:.1f}% of "
        f"trial wall time (max {o['max_overhead_share'] * 100:.1f}%; notes and artifacts "
        f"{o['median_notes_artifacts_share'] * 100:.1f}%), {o['trials']} trials of median "
        f"{o['median_trial_seconds']:.1f}s.",
        "",
        f"| workers ({args.trials} trials, {args.reps} alternating reps) | median wall (s) "
        "| trials/hour |",
        "|---|---|---|",
        *[f"| {k} | {statistics.median(v):.0f} | {per_hour[k]:.0f} |" for k, v in walls.items()],
        "",
        f"2 workers / 1 worker: {per_hour['2 workers'] / per_hour['1 worker']:.2f}x trials/hour.",
        "",
        f"Where the overhead goes (median share of trial wall time): dashboard notes and "
        f"artifacts {o['median_notes_artifacts_share'] * 100:.1f}%, the rest (sampler, "
        f"storage writes, model set-up) {o['median_other_share'] * 100:.1f}%.",
        "",
        "Start-up, torch imported to first training batch, per process (the data cache "
        "filled by the first run): "
        + "; ".join(
            f"{k}: median {statistics.median(v):.2f}s, max {max(v):.2f}s over {len(v)}"
            for k, v in startups.items()
            if v
        )
        + ".",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "overhead.md").write_text("\n".join(lines) + "\n")
    (out / "overhead.json").write_text(
        json.dumps(
            {"overhead": o, "walls": walls, "per_hour": per_hour, "startup_seconds": startups},
            indent=1,
        )
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Load: 1, 4 and 16 worker processes on one PostgreSQL study with tiny trials.

Each trial runs a fit function that trains nothing (it reports five epochs of random
values and returns), so a trial's wall time is the storage's and the claim lock's work: the
sampled config written, five reports each followed by the pruner's question, the record
(curve, restarts, device, worker) and the result. For each worker count the study must end
at exactly ``--n-trials`` with no trial number twice and none left RUNNING; the median
seconds per trial and the trials per second are reported.

    TRICKSEARCH_TEST_POSTGRES_URL=postgresql://... python benchmarks/load.py [--trials 96]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
from optuna.trial import TrialState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import write_results

FIT = """
import random


def fit(config, session):
    rng = random.Random(config.train.seed)
    value = 0.0
    for epoch in range(config.train.epochs):
        value = rng.random()
        session.report(epoch, value)
    return session.finish(value, value)
"""

STUDY = """
[study]
name = "load"
fit = "loadfit:fit"
[sampler]
name = "RandomSampler"
[pruner]
name = "MedianPruner"
[train]
epochs = 5
steps_per_epoch = 10
[space]
lr = [0.01, 0.1]
loss_kind = ["ce", "focal"]
"""


def run(url: str, folder: Path, workers: int, trials: int) -> dict[str, float]:
    """One study with ``workers`` processes; checks the totals and returns the timings."""
    name = f"load-{workers}-{uuid.uuid4().hex[:6]}"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "search.cli", "run", str(folder / "study.toml"), "--storage",
         url, "--study-name", name, "--n-trials", str(trials), "--workers", str(workers),
         "--device", "cpu", "--quiet", "--no-dashboard", "--no-warm-start",
         "--checkpoint-dir", str(folder / "ck")],
        capture_output=True, text=True, env={**os.environ, "TRICKSEARCH_THREADS": "1"},
    )  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{workers} workers failed: {proc.stderr[-2000:]}")
    found = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    finished = [t for t in found if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    numbers = [t.number for t in found]
    assert len(finished) == trials, (workers, len(finished))
    assert len(numbers) == len(set(numbers)), "a trial number twice"
    assert not [t for t in found if t.state == TrialState.RUNNING], "a trial left RUNNING"
    seconds = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in finished
        if t.datetime_complete is not None and t.datetime_start is not None
    ]
    return {
        "workers": workers,
        "trials": trials,
        "wall_seconds": wall,
        "median_trial_seconds": statistics.median(seconds),
        "p90_trial_seconds": sorted(seconds)[int(0.9 * len(seconds))],
        "trials_per_second_after_startup": len(seconds) / max(1e-9, sum(seconds) / workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=96)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    url = os.environ.get("TRICKSEARCH_TEST_POSTGRES_URL")
    if not url:
        raise SystemExit("load: set TRICKSEARCH_TEST_POSTGRES_URL to a PostgreSQL storage")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "loadfit.py").write_text(FIT)
        (folder / "study.toml").write_text(STUDY)
        rows = [run(url, folder, w, args.trials) for w in args.workers]
    lines = [
        f"| workers ({args.trials} tiny trials, PostgreSQL, {os.cpu_count()} cores) "
        "| study wall (s) | median storage time per trial (s) | p90 (s) |",
        "|---|---|---|---|",
        *[
            f"| {r['workers']} | {r['wall_seconds']:.1f} | {r['median_trial_seconds']:.3f} "
            f"| {r['p90_trial_seconds']:.3f} |"
            for r in rows
        ],
        "",
        "Every study ended at exactly its total, no trial number twice, none left RUNNING. "
        "A trial here trains nothing: its time is the storage's (config, five reports with "
        "the pruner's question, the record, the result) and the claim lock's; the study's "
        "wall time includes each worker's start-up (importing torch).",
    ]
    write_results(args.out, "load", lines, rows)


if __name__ == "__main__":
    main()

"""Freed memory kept in the process (tricks.allocator) vs glibc's malloc as it is.

The real CLI runs the same study in a fresh process per run, the two arms alternating:
``TRICKSEARCH_GLIBC_MALLOC=1`` (glibc's defaults) and as shipped (mmap and trim
thresholds raised). Reported per arm: median run wall time, the runs' user and system
CPU seconds, and the median training epoch (train + validation) from the trials' curves;
then the ratios. Both arms run the same trials (values checked equal).

    python benchmarks/allocator.py [--trials 4] [--reps 3] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from results_io import write_results  # noqa: E402

from search.record import TrialRecord  # noqa: E402
from tricks.allocator import OPT_OUT  # noqa: E402

ARMS = {"glibc malloc as it is": {OPT_OUT: "1"}, "freed memory kept (as shipped)": {}}


def one_run(args: argparse.Namespace, env: dict[str, str], db: Path) -> dict[str, float | list]:
    """One fresh ``tricksearch run``: wall, its CPU seconds, its epochs and trial values."""
    url = f"sqlite:///{db}"
    cmd = [sys.executable, "-m", "search.cli", "run", args.study, "--storage", url]
    cmd += ["--n-trials", str(args.trials), "--device", "cpu", "--quiet", "--no-dashboard"]
    for item in args.set:
        cmd += ["--set", item]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        cmd,
        check=True,
        capture_output=True,
        cwd=db.parent,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    trials = optuna.load_study(study_name=None, storage=url).trials
    epochs = [p["seconds"] for t in trials for p in TrialRecord(t).curve]
    return {
        "wall": wall,
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
        "epoch": statistics.median(epochs),
        "values": [t.value for t in trials],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(ROOT / "studies" / "quickstart.toml"))
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="study-file override")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for i, (arm, env) in enumerate(ARMS.items()):
                run = one_run(args, env, Path(tmp) / f"a{i}-{rep}.db")
                runs[arm].append(run)
                print(f"rep {rep} {arm}: {run['wall']:.0f}s, sys {run['sys']:.1f}s", flush=True)
            glibc, kept = (runs[arm][-1]["values"] for arm in ARMS)
            if glibc != kept:
                raise SystemExit(f"rep {rep}: the arms ran different trials")
    med = {
        arm: {k: statistics.median(r[k] for r in rs) for k in ("wall", "user", "sys", "epoch")}
        for arm, rs in runs.items()
    }
    base, kept = (med[a] for a in ARMS)
    lines = [
        f"`{Path(args.study).name}`, {args.trials} trials a run, {args.reps} alternating reps per "
        f"arm, fresh process each{', ' + ', '.join(args.set) if args.set else ''}; "
        f"cores {sorted(os.sched_getaffinity(0))}, OMP_NUM_THREADS "
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')}:",
        "",
        "| arm | median run wall (s) | user CPU (s) | system CPU (s) | median epoch (s) |",
        "|---|---|---|---|---|",
        *(
            f"| {arm} | {m['wall']:.1f} | {m['user']:.1f} | {m['sys']:.1f} | {m['epoch']:.2f} |"
            for arm, m in med.items()
        ),
        "",
        f"glibc / kept: run wall {base['wall'] / kept['wall']:.2f}x, epoch "
        f"{base['epoch'] / kept['epoch']:.2f}x, "
        f"system CPU {base['sys'] / max(kept['sys'], 1e-9):.1f}x.",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_results(out, "allocator", lines, {"args": vars(args), "runs": runs})


if __name__ == "__main__":
    main()

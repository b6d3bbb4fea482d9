"""Worker start-up, side by side with the floor its dependencies set.

Each measurement is a fresh process, timed from the moment ``import torch`` has returned
(the clock ``tricksearch`` uses for ``startup_seconds``) to the start of the first training
batch. Arms, alternating, per storage (SQLite, Optuna's journal file):

  tricksearch   ``tricksearch run studies/quickstart.toml --n-trials 1`` (2 + 1 epochs) on a
                new storage (the data cache filled by a warm-up run); the trial's
                ``startup_seconds``
  2 workers     the same with ``--workers 2`` and 2 trials: each worker's first trial
  floor         only what any Optuna worker training with ``torch.optim`` must do:
                import Optuna, open the storage, create the study, ask a trial, build the
                quickstart's small CNN and its SGD optimizer; timed per phase

The difference is what tricksearch itself adds (its imports, config schema, data cache
load, sampler and pruner set-up). The floor is what no change inside this project can
remove while it uses Optuna's storages and torch's optimizers.

    python benchmarks/startup.py [--reps 5]
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

import torch
from results_io import write_results

ROOT = Path(__file__).resolve().parents[1]
STORAGES = ("sqlite", "journal")
ARMS = ("tricksearch", "tricksearch, 2 workers", "floor")
STARTUP = "startup_seconds"  # search.record.STARTUP (not imported: the floor imports nothing)


def storage_url(kind: str, directory: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / 'startup.db'}"
    return f"journal:///{directory / 'startup.log'}"


def floor_child(kind: str, directory: Path) -> dict[str, float]:
    """Runs in a fresh process: the dependency floor, per phase, from torch imported."""
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    import optuna

    phases = {"import optuna": lap()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if kind == "sqlite":
        storage: optuna.storages.BaseStorage = optuna.storages.RDBStorage(
            storage_url(kind, directory)
        )
    else:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        storage = JournalStorage(JournalFileBackend(str(directory / "startup.log")))
    phases["open storage"] = lap()
    study = optuna.create_study(storage=storage, direction="maximize")
    study.ask()
    phases["create study, ask"] = lap()
    model = _small_cnn().to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    phases["model, optimizer (imports torch._dynamo)"] = lap()
    phases["total"] = clock[-1] - clock[0]
    del optimizer
    return phases


def _small_cnn() -> torch.nn.Module:
    """The quickstart's SmallCNN, spelled in torch alone (no project import in the floor)."""
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    return nn.Sequential(
        block(1, 16),
        block(16, 32),
        block(32, 64),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


def floor(kind: str, directory: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--dir", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def tricksearch(kind: str, directory: Path, workers: int) -> list[float]:
    """A trial per worker of the quickstart, fresh processes; each worker's start-up."""
    import optuna

    sys.path.insert(0, str(ROOT))  # not at module level: the floor's child imports nothing
    from search.storage import open_storage

    url = storage_url(kind, directory)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "search.cli",
            "run",
            str(ROOT / "studies/quickstart.toml"),
            "--storage",
            url,
            "--n-trials",
            str(workers),
            "--workers",
            str(workers),
            "--no-dashboard",
            "--set",  # start-up ends at the first batch: a short trial measures the same
            "train.epochs=2",
            "--set",
            "finetune.epochs=1",
            "--device",
            "cpu",
            "--quiet",
        ],
        cwd=directory,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    study = optuna.load_study(study_name="quickstart", storage=open_storage(url, heartbeat=False))
    return [float(t.user_attrs[STARTUP]) for t in study.trials if STARTUP in t.user_attrs]


def measure(reps: int) -> dict[str, dict]:
    results: dict[str, dict] = {k: {arm: [] for arm in ARMS} for k in STORAGES}
    with tempfile.TemporaryDirectory() as tmp:
        tricksearch("sqlite", Path(tmp), 1)  # fills the data cache; not counted
        for rep in range(reps):
            for kind in STORAGES:
                for arm in ARMS:
                    with tempfile.TemporaryDirectory(dir=tmp) as d:
                        if arm == "floor":
                            results[kind][arm].append(floor(kind, Path(d)))
                        else:
                            workers = 2 if "2 workers" in arm else 1
                            results[kind][arm] += tricksearch(kind, Path(d), workers)
            print(f"rep {rep + 1}/{reps} done", flush=True)
    return results


def table(results: dict[str, dict], reps: int) -> list[str]:
    lines = [
        f"Start-up, torch imported to first training batch; medians of {reps} fresh processes "
        "per arm, arms alternating (`benchmarks/startup.py`).",
        "",
        "| storage | tricksearch (s) [range] | 2 workers, each (s) [range] "
        "| dependency floor (s) | tricksearch - floor (s) | floor's phases (s) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, arms in results.items():
        one, two = arms["tricksearch"], arms["tricksearch, 2 workers"]
        phases = {p: statistics.median(f[p] for f in arms["floor"]) for p in arms["floor"][0]}
        base = phases.pop("total")
        split = "; ".join(f"{p} {s:.2f}" for p, s in phases.items())
        lines.append(
            f"| {kind} | {_spread(one)} | {_spread(two)} | {base:.2f} "
            f"| {statistics.median(one) - base:+.2f} | {split} |"
        )
    return lines


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--child", choices=STORAGES, help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(floor_child(args.child, Path(args.dir))))
        return
    results = measure(args.reps)
    lines = table(results, args.reps)
    write_results(args.out, "startup", lines, results)


if __name__ == "__main__":
    main()

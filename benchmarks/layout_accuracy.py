"""Accuracy is unchanged by the memory format: channels-last vs the old NCHW path, paired seeds.

Trains ``examples/fashion_mnist_lt.toml`` (full Fashion-MNIST-LT, ratio 100) once per
seed in each layout and reports the mean balanced validation and test accuracy per arm,
the paired difference with a 95% t interval, and the wall time of each run. Each run is
stored in the JSON the moment it finishes; rerunning continues where it stopped.

    python benchmarks/layout_accuracy.py [--seeds 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from results_io import write_results

from search.stats import mean_ci95
from tricks.config import MemoryFormat, TrickConfig
from tricks.data import load_bundle
from tricks.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
ARMS: tuple[MemoryFormat, ...] = ("channels_last", "contiguous")


def run_one(layout: MemoryFormat, seed: int) -> dict[str, float]:
    cfg = TrickConfig.load(ROOT / "examples" / "fashion_mnist_lt.toml")
    cfg.train.seed = seed
    cfg.train.memory_format = layout
    data = load_bundle(cfg.data, seed=seed)
    start = time.perf_counter()
    trainer = Trainer(cfg, data)
    result = trainer.fit()
    test = trainer.evaluate(result.model, "test")
    return {
        "val": result.value * 100,
        "test": test["balanced_accuracy"] * 100,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "layout_accuracy.json"
    runs: dict[str, dict] = json.loads(store.read_text()) if store.exists() else {}
    for seed in range(args.seeds):
        for layout in ARMS:  # alternating, so load on the machine hits both arms alike
            key = f"{layout}/{seed}"
            if key in runs:
                continue
            runs[key] = run_one(layout, seed)
            store.write_text(json.dumps(runs, indent=2))
            print(key, {k: round(v, 2) for k, v in runs[key].items()}, flush=True)
    seeds = [s for s in range(args.seeds) if all(f"{a}/{s}" in runs for a in ARMS)]
    lines = [
        f"Examples config (full Fashion-MNIST-LT, ratio 100, 8 + 4 epochs), {len(seeds)} seeds, "
        "balanced accuracy in %:",
        "",
        "| layout | val mean | test mean | s/run (median) |",
        "|---|---|---|---|",
    ]
    for arm in ARMS:
        rows = [runs[f"{arm}/{s}"] for s in seeds]
        lines.append(
            f"| {arm} | {statistics.fmean(r['val'] for r in rows):.2f} "
            f"| {statistics.fmean(r['test'] for r in rows):.2f} "
            f"| {statistics.median(r['seconds'] for r in rows):.0f} |"
        )
    lines += [
        "",
        "| paired difference (channels_last - contiguous) | mean | 95% CI |",
        "|---|---|---|",
    ]
    for split in ("val", "test"):
        diffs = [runs[f"channels_last/{s}"][split] - runs[f"contiguous/{s}"][split] for s in seeds]
        _, low, high = mean_ci95(diffs)
        lines.append(f"| {split} | {statistics.fmean(diffs):+.2f} | [{low:+.2f}, {high:+.2f}] |")
    write_results(out, "layout_accuracy", lines)


if __name__ == "__main__":
    main()

"""Would a wider search space help? Settings outside the shipped space, on the best recipe.

The search-efficiency benchmark found no configuration clearly better than deferred
re-weighting (Cao et al., NeurIPS 2019) inside the shipped space. This asks whether
settings the space leaves fixed would be worth adding: the best recipe at the trial
length (20 + 4 epochs, full Fashion-MNIST-LT, ratio 100, small CNN) trained once per seed
as typed by hand and once per variant, paired by seed (same data split, weights and
batch order). A 40-epoch run is the positive control: trial length is known to be worth
about a point (``benchmarks/results/trial_length.md``), so the comparison can see a gain
of that size.

Each run is stored in the JSON the moment it finishes; rerunning continues. Two processes
may share ``--out`` (a file lock per run), e.g. ``--threads 1`` pinned with ``taskset``.
Keep one thread count for a whole table: a run is reproducible at a given count, and the
same run at another count lands a few tenths of a point elsewhere.

    python benchmarks/recipe_variants.py [--seeds 5] [--threads 2] [--out benchmarks/results]

``--epochs 40`` asks the same at the shipped study's trial length (40 + 4 epochs), with
its own store and table (``recipe_variants_40``) and variants for the settings still
outside the space there: weight decay both ways, batch 64, and model capacity (the small
CNN at twice its width, ``model.width = 32``); the positive control is then 80 epochs.
Its last variant asks whether capacity lifts the ceiling rather than the speed: width 32
at 80 epochs, paired with width 16 at 80 epochs, where the narrow CNN has stopped gaining
(the recipe at 80 + 4 and at 356 + 4 epochs lands within 0.1 point: 88.91, 88.83).
``--variant NAME`` (repeatable) runs only the named rows, e.g. more seeds for one pair:

    python benchmarks/recipe_variants.py --epochs 40 --seeds 10 --threads 1 \
        --variant "width 32, 80 epochs" --variant "80 epochs"
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_io import write_results  # noqa: E402
from unit_lock import claimed  # noqa: E402

from search.recipes import RECIPES, recipe_params  # noqa: E402
from search.space import suggest_config  # noqa: E402
from search.stats import mean_ci95  # noqa: E402
from search.study_file import StudySpec, load_study_file  # noqa: E402
from tricks.config import TrickConfig  # noqa: E402
from tricks.data import load_bundle  # noqa: E402
from tricks.schedules import steps_per_epoch  # noqa: E402
from tricks.trainer import Trainer  # noqa: E402

DRW = next(r for r in RECIPES if r.name == "deferred re-weighting")
AS_TYPED: tuple[str, list[str]] = (
    "deferred re-weighting, lr 0.1, wd 5e-4, batch 128, crop padding 2",
    [],
)
#: trial length -> name -> (what it changes, ``--set``-style overrides of the study file)
VARIANTS: dict[int, dict[str, tuple[str, list[str]]]] = {}
VARIANTS[20] = {
    "as typed": AS_TYPED,
    "crop padding 4": ("stronger augmentation", ["train.crop_padding=4"]),
    "batch 64": ("twice the optimizer steps", ["train.batch_size=64"]),
    "weight decay 1e-3": (
        "twice the L2 (weight balancing, Alshammari et al. 2022)",
        ["train.weight_decay=0.001"],
    ),
    "40 epochs": ("positive control: twice the training", ["train.epochs=40"]),
}
VARIANTS[40] = {
    "as typed": AS_TYPED,
    "weight decay 2e-4": ("less L2", ["train.weight_decay=0.0002"]),
    "weight decay 2e-3": (
        "four times the L2 (weight balancing, Alshammari et al. 2022)",
        ["train.weight_decay=0.002"],
    ),
    "batch 64": ("twice the optimizer steps", ["train.batch_size=64"]),
    "width 32": ("model capacity: the small CNN twice as wide", ["model.width=32"]),
    "80 epochs": ("positive control: twice the training", ["train.epochs=80"]),
    "width 32, 80 epochs": (
        "does capacity lift the well-trained ceiling? (against 80 epochs at width 16)",
        ["model.width=32", "train.epochs=80"],
    ),
}
#: variant -> the variant it is paired with, where that is not the recipe as typed
CONTROL: dict[str, str] = {"width 32, 80 epochs": "80 epochs"}


def study(epochs: int, seed: int, overrides: list[str]) -> StudySpec:
    """The shipped full study at ``epochs`` epochs with ``overrides`` on its base config."""
    return load_study_file(
        ROOT / "studies" / "fashion_mnist_lt.toml",
        [f"train.epochs={epochs}", f"train.seed={seed}", *overrides],
    )


def recipe(spec: StudySpec, n_train: int) -> TrickConfig:
    """Deferred re-weighting in ``spec`` exactly as the warm start enqueues it.

    The recipe's parameters (``search/recipes.py``) turned into a config the way a trial
    does: weights from 75% of training, 5% warmup, cosine to the end, no restarts, the
    4-epoch no-aug fine-tune at 1/100 of the peak LR.
    """
    params = recipe_params(DRW, spec.space, spec.base)
    if params is None:
        raise SystemExit("the shipped study's space no longer holds deferred re-weighting")
    steps = steps_per_epoch(n_train, spec.base.train.batch_size)
    return suggest_config(optuna.trial.FixedTrial(params), spec.space, spec.base, steps)


def run_one(epochs: int, name: str, seed: int) -> dict[str, Any]:
    """One training run of a variant; validation and test balanced accuracy, wall time."""
    spec = study(epochs, seed, VARIANTS[epochs][name][1])
    data = load_bundle(spec.base.data, seed=seed)
    cfg = recipe(spec, len(data.y_train))
    start = time.perf_counter()
    trainer = Trainer(cfg, data, "cpu")
    result = trainer.fit()
    test = trainer.evaluate(result.model, "test")
    return {
        "variant": name,
        "seed": seed,
        "val": result.value * 100,
        "test": float(test["balanced_accuracy"]) * 100,
        "seconds": time.perf_counter() - start,
        "threads": torch.get_num_threads(),  # results are reproducible per thread count
    }


def run_all(epochs: int, seeds: int, store: Path, names: list[str]) -> None:
    """Every (variant, seed) of ``names`` not stored and not held by another process.

    Each run is stored the moment it finishes.
    """
    for seed in range(seeds):
        for name in names:
            path = store / f"{name.replace(' ', '_')}-{seed}.json"
            with claimed(path) as mine:
                if not mine:
                    continue  # stored, or another process is running it
                run = run_one(epochs, name, seed)
                path.write_text(json.dumps(run))
            print(
                f"seed {seed} {name}: val {run['val']:.2f} test {run['test']:.2f} "
                f"({run['seconds']:.0f}s)",
                flush=True,
            )


def report(epochs: int, store: Path) -> list[str]:
    """The markdown table of the stored runs at trial length ``epochs``."""
    runs = {
        (r["variant"], r["seed"]): r
        for r in map(json.loads, map(Path.read_text, store.glob("*.json")))
    }
    base = "as typed"
    lines = [
        f"Deferred re-weighting at the trial length ({epochs} + 4 epochs), full "
        "Fashion-MNIST-LT (ratio 100), small CNN, on the CPU; balanced accuracy in %, "
        "each variant paired by seed with its control (the recipe as typed unless named); "
        "torch threads per run: "
        f"{', '.join(map(str, sorted({r.get('threads', '?') for r in runs.values()})))} (a run "
        "is reproducible at a given thread count; pair only runs made at one count).",
        "",
        "| variant | what it changes | seeds | val mean | test mean | control "
        "| test - control (pt), mean [95% CI] | s/run (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (what, _) in VARIANTS[epochs].items():
        rows = [r for (v, _), r in sorted(runs.items()) if v == name]
        if not rows:
            continue
        control = CONTROL.get(name, base)
        diffs = [
            r["test"] - runs[(control, r["seed"])]["test"]
            for r in rows
            if (control, r["seed"]) in runs
        ]
        m, lo, hi = mean_ci95(diffs) if diffs else (float("nan"),) * 3
        paired = "-" if name == base else f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        lines.append(
            f"| {name} | {what} | {len(rows)} | {statistics.fmean(r['val'] for r in rows):.2f} "
            f"| {statistics.fmean(r['test'] for r in rows):.2f} "
            f"| {'-' if name == base else control} | {paired} "
            f"| {statistics.median(r['seconds'] for r in rows):.0f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--epochs", type=int, choices=sorted(VARIANTS), default=20, help="trial length"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="run only this variant (repeatable; default: all), e.g. more seeds for one row",
    )
    parser.add_argument("--report", action="store_true", help="only tabulate stored runs")
    args = parser.parse_args()
    names = args.variant or list(VARIANTS[args.epochs])
    unknown = [n for n in names if n not in VARIANTS[args.epochs]]
    if unknown:
        valid = "; ".join(VARIANTS[args.epochs])
        parser.error(f"--variant: unknown {unknown[0]!r}; valid: {valid}")
    torch.set_num_threads(args.threads)
    # The study file's TPE options (group, constant_liar) are experimental in Optuna 5.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    name = "recipe_variants" if args.epochs == 20 else f"recipe_variants_{args.epochs}"
    store = Path(args.out) / name
    store.mkdir(parents=True, exist_ok=True)
    if not args.report:
        run_all(args.epochs, args.seeds, store, names)
    lines = report(args.epochs, store)
    write_results(args.out, name, lines)


if __name__ == "__main__":
    main()

"""Does starting from pretrained weights pay? ``examples/pretrained`` against a study from scratch.

For each seed: pretrain the small CNN on the five head classes of Fashion-MNIST
(``examples/pretrained/make_weights.py``, the training images the study does not hold out
for validation at that seed), then run ``examples/pretrained/study.toml`` twice, with
``model.weights`` set to that file and without it (the fair control: the same study,
sampler seed, data split and budget, from a random initialisation). Each study's best
trial is exported and retrained as ``tricksearch export`` + ``train`` do; its test
balanced accuracy is the unit. Paired by seed: pretrained - scratch, mean with a 95% t
interval and a Wilcoxon signed-rank p.

The pretraining's cost is not charged to the pretrained arm: it stands for weights a
user already has. Each unit is stored as JSON when it finishes, each study in its own
SQLite file beside it, so rerunning continues where it stopped.

    python benchmarks/pretrained.py [--seeds 3] [--threads 1] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "pretrained"))

from make_weights import HEAD_CLASSES, head_classes  # noqa: E402
from results_io import write_results  # noqa: E402

from search.export import best_trials, trial_config  # noqa: E402
from search.retrain import run_train  # noqa: E402
from search.runner import RunOptions, run_study  # noqa: E402
from search.stats import mean_ci95, wilcoxon_p  # noqa: E402
from search.study_file import load_study_file  # noqa: E402
from tricks import Trainer, TrickConfig, load_bundle  # noqa: E402

STUDY = ROOT / "examples" / "pretrained" / "study.toml"
ARMS = ("pretrained", "scratch")
PRETRAIN_EPOCHS = 8


def make_weights(seed: int, val_per_class: int, path: Path) -> dict[str, Any]:
    """Pretrain on the head classes (as make_weights.py does) unless ``path`` exists."""
    if path.is_file():
        return {}
    config = TrickConfig.from_dict(
        {
            "data": {"imbalance_ratio": 1.0, "val_per_class": val_per_class},
            "train": {"epochs": PRETRAIN_EPOCHS, "lr": 0.1, "seed": seed},
            "schedule": {"warmup_steps": 100},
            "finetune": {"epochs": 0},
            "restart": {"max_restarts": 0},
        }
    )
    start = time.perf_counter()
    data = head_classes(load_bundle(config.data, seed=seed), HEAD_CLASSES)
    trainer = Trainer(config, data)
    result = trainer.fit()
    tmp = path.with_suffix(".tmp")
    torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, tmp)
    tmp.replace(path)
    test = trainer.evaluate(result.model, "test")["balanced_accuracy"]
    return {"head_test": test, "seconds": time.perf_counter() - start}


def run_unit(arm: str, seed: int, out: Path) -> dict[str, Any]:
    """One study (resumed if a previous run stopped), then its best config retrained."""
    overrides = [f"train.seed={seed}"]
    spec0 = load_study_file(STUDY, overrides)
    if arm == "pretrained":
        weights = out / f"weights-{seed}.pt"
        pre = make_weights(seed, spec0.base.data.val_per_class, weights)
        if pre:
            print(f"seed {seed}: pretrained on the head classes {pre}", flush=True)
        overrides.append(f"model.weights={weights}")
    else:
        overrides.append('model.weights=""')
    spec = load_study_file(STUDY, overrides)
    storage = f"sqlite:///{out / f'{arm}-{seed}.db'}"
    opts = RunOptions(storage, "pretrained", spec.n_trials, quiet=True, dashboard=False)
    start = time.perf_counter()
    study = run_study(spec, opts)
    best = best_trials(study, 1)[0]
    config = trial_config(study, best)
    search_seconds = time.perf_counter() - start
    with open(out / f"{arm}-{seed}.log", "w") as log:
        metrics = run_train(config, out / f"{arm}-{seed}-run", "cpu", None, stream=log)
    return {
        "arm": arm,
        "seed": seed,
        "best_trial": best.number,
        "val": metrics["value"],
        "test": metrics["test"]["balanced_accuracy"],
        "search_seconds": search_seconds,
        "retrain_seconds": metrics["seconds"],
        "params": best.params,
    }


def report(units: dict[tuple[str, int], dict[str, Any]], out: Path) -> str:
    """The Markdown table: per arm, per seed, and the paired difference."""
    seeds = sorted({s for a, s in units if a == ARMS[0]} & {s for a, s in units if a == ARMS[1]})
    lines = [
        "# Fine-tuning from pretrained weights vs the same study from scratch",
        "",
        "`python benchmarks/pretrained.py` (examples/pretrained/study.toml; test balanced",
        "accuracy of each study's best config retrained as `export` + `train` do).",
        "",
        "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
        "|---|" + "---|" * (len(seeds) + 1),
    ]
    for arm in ARMS:
        tests = [units[(arm, s)]["test"] * 100 for s in seeds]
        row = " | ".join(f"{t:.2f}" for t in tests)
        mean = f"{statistics.fmean(tests):.2f}" if tests else "-"
        lines.append(f"| {arm} | {row} | {mean} |")
    diffs = [
        (units[("pretrained", s)]["test"] - units[("scratch", s)]["test"]) * 100 for s in seeds
    ]
    if len(diffs) >= 2:
        m, lo, hi = mean_ci95(diffs)
        lines += [
            "",
            f"pretrained - scratch, paired by seed ({len(diffs)} seeds): "
            f"{', '.join(f'{d:+.2f}' for d in diffs)} = **{m:+.2f} [{lo:+.2f}, {hi:+.2f}]** "
            f"points (95% t interval), Wilcoxon p {wilcoxon_p(diffs):.2f}.",
        ]
    minutes = sum(u["search_seconds"] + u["retrain_seconds"] for u in units.values()) / 60
    lines += ["", f"Compute: {minutes:.0f} min of study and retraining wall time in all."]
    write_results(out.parent, out.name, lines)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--report", action="store_true", help="only write the table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out / "pretrained"
    out.mkdir(parents=True, exist_ok=True)
    units = {}
    for seed in range(args.seeds):
        for arm in ARMS:
            path = out / f"{arm}-{seed}.json"
            if not path.is_file() and not args.report:
                path.write_text(json.dumps(run_unit(arm, seed, out), indent=2))
            if path.is_file():
                unit = json.loads(path.read_text())
                units[(arm, seed)] = unit
                print(f"{arm} seed {seed}: test {unit['test'] * 100:.2f}", flush=True)
    report(units, out)


if __name__ == "__main__":
    main()

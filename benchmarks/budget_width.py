"""Does ``model_width`` in the budgeted space pay at equal wall time?

Three arms per seed on full Fashion-MNIST-LT (ratio 100), each given the same wall-time
budget ``--minutes`` on one pinned CPU core (``taskset``, one thread) while the other core
runs another unit, so every unit trains under the same conditions:

  width   ``tricksearch run fashion_mnist_lt --budget Bm`` with ``model_width = [8, 32]``
          added to the shipped study's space (a wider small CNN pays for its slower epochs)
  fixed   the same command on the shipped study (width 16)
  recipe  the best recipe, deferred re-weighting (Cao et al., NeurIPS 2019), at the
          default width, stretched to as many epochs (training and fine-tune) as the same
          seed's ``fixed`` unit ran in its budget: the same width, so the same compute

Each unit's summary lands in ``<out>/<arm>-<seed>.json`` as it finishes; its study,
checkpoints and final folder in ``<work>/<arm>-<seed>/``. Resumable: the same command
skips finished units and continues interrupted ones (``run --budget`` resumes a search or
its final training; the recipe training resumes from its checkpoint, and its stretched
config is kept as ``<out>/recipe-<seed>.toml``, so it can start again on another machine
without the fixed unit's study). ``--resummarise`` writes the finished units' summaries
again from ``<work>``. ``--report`` only
tabulates: per arm the mean test balanced accuracy with a 95% t interval, and the paired
differences width - fixed, width - recipe, fixed - recipe.

    python benchmarks/budget_width.py --minutes 60 --seeds 0,1,2   # 9 units, ~5 h, resumable
    python benchmarks/budget_width.py --report --page docs/results/budget.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from results_io import write_results  # noqa: E402

if TYPE_CHECKING:
    from tricks.config import TrickConfig

ARMS = ("width", "fixed", "recipe")
WIDTHS = "model_width = [8, 32]\n"
RECIPE = "deferred re-weighting"
STUDY = ROOT / "studies" / "fashion_mnist_lt.toml"


def unit_order(seeds: list[int]) -> list[tuple[str, int]]:
    """Every ``fixed`` unit first (a recipe unit waits for its seed's), then ``width``, then the
    recipes: the lanes start the longest chain, fixed then recipe, as early as they can."""
    return [(arm, seed) for arm in ("fixed", "width", "recipe") for seed in seeds]


def study_file(arm: str, work: Path) -> Path:
    if arm == "fixed":
        return STUDY
    path = work / "fashion_mnist_lt_width.toml"
    text = STUDY.read_text()
    assert text.rstrip().splitlines()[-1].startswith("finetune_lr_factor"), "[space] is last"
    path.write_text(text + WIDTHS)
    return path


def unit_command(arm: str, seed: int, args: argparse.Namespace, lane: int) -> list[str]:
    """The pinned command line of one unit."""
    pin = ["taskset", "-c", str(lane)]
    if arm == "recipe":
        return [
            *pin,
            sys.executable,
            __file__,
            "--recipe-unit",
            str(seed),
            "--minutes",
            str(args.minutes),
            "--work",
            str(args.work),
            "--out",
            str(args.out),
        ]
    return [
        *pin,
        sys.executable,
        "-m",
        "search.cli",
        "run",
        str(study_file(arm, args.work)),
        "--budget",
        f"{args.minutes}m",
        "--seed",
        str(seed),
        "--storage",
        "sqlite:///study.db",
        "--output",
        "final",
        "--device",
        "cpu",
        "--no-dashboard",
        *[part for item in args.set for part in ("--set", item)],
    ]


def run_unit(arm: str, seed: int, args: argparse.Namespace, lane: int) -> bool:
    """Run (or continue) one unit in its work folder, then write its summary."""
    folder = args.work / f"{arm}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TRICKSEARCH_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    with open(folder / "unit.log", "a") as log:
        rc = subprocess.call(
            unit_command(arm, seed, args, lane),
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    wall = time.monotonic() - start + _wall_so_far(folder)
    (folder / "wall.txt").write_text(f"{wall:.1f}\n")
    if rc != 0:
        print(f"{arm}-{seed}: exit {rc}; see {folder / 'unit.log'}", flush=True)
        return False
    summary = summarise(arm, seed, folder, wall)
    (args.out / f"{arm}-{seed}.json").write_text(json.dumps(summary, indent=1))
    print(f"{arm}-{seed}: test {summary['test'] * 100:.2f}% ({wall / 60:.1f} min)", flush=True)
    return True


def _wall_so_far(folder: Path) -> float:
    stored = folder / "wall.txt"
    return float(stored.read_text()) if stored.exists() else 0.0


def summarise(arm: str, seed: int, folder: Path, wall: float) -> dict[str, Any]:
    """A finished unit: the final model's metrics, its width, and how the budget was spent."""
    import tomllib

    metrics = json.loads((folder / "final" / "metrics.json").read_text())
    config = tomllib.loads((folder / "final" / "config.toml").read_text())
    summary = {
        "arm": arm,
        "seed": seed,
        "val": metrics["val"]["balanced_accuracy"],
        "test": metrics["test"]["balanced_accuracy"],
        "width": config["model"].get("width", 16),
        "final_epochs": len(metrics["history"]),
        "final_seconds": sum(r["seconds"] for r in metrics["history"]),
        "wall_seconds": wall,
    }
    if arm == "recipe":
        summary["epoch_seconds"] = statistics.median(r["seconds"] for r in metrics["history"])
    else:
        summary.update(search_summary(folder))
    return summary


def search_summary(folder: Path) -> dict[str, Any]:
    """The search part of a budgeted run, read from its study."""
    import optuna

    from search.budget import spent
    from search.record import TrialRecord

    study = optuna.load_study(study_name="fashion_mnist_lt", storage=_db(folder))
    trials = study.get_trials(deepcopy=False)
    epochs, seconds = spent(trials)
    best = study.best_trial
    default = [
        r["seconds"]
        for t in trials
        if t.params.get("model_width", 16) == 16
        for r in TrialRecord(t).curve
        if r.get("seconds")
    ]
    return {
        "trials": len(trials),
        "pruned": sum(t.state.name == "PRUNED" for t in trials),
        "search_epochs": epochs,
        "search_seconds": seconds,
        "pick": best.number,
        "pick_recipe": (TrialRecord(best).recipe or {}).get("name"),
        "widths": [t.params.get("model_width", 16) for t in trials],
        "epoch_seconds": statistics.median(default),
    }


def resummarise(args: argparse.Namespace) -> None:
    """Write every finished unit's summary again from its work folder (after a change to
    what a summary holds); a unit whose folder is gone keeps its stored summary."""
    for path in sorted(args.out.glob("*-*.json")):
        unit = json.loads(path.read_text())
        folder = args.work / f"{unit['arm']}-{unit['seed']}"
        if (folder / "final" / "metrics.json").exists():
            summary = summarise(unit["arm"], unit["seed"], folder, unit["wall_seconds"])
            path.write_text(json.dumps(summary, indent=1))
            print(f"{path.name}: summarised again from {folder}", flush=True)


def _db(folder: Path) -> str:
    return f"sqlite:///{folder / 'study.db'}"


def recipe_unit(seed: int, args: argparse.Namespace) -> None:
    """Train the deferred re-weighting recipe for as many epochs as the same seed's ``fixed``
    unit ran in its budget (one process, pinned by the caller); resumes from
    ``final/checkpoint.pt``.

    Both are the small CNN at width 16, so equal epochs are equal compute: the epochs the
    fixed search and its final training bought in the budget, whatever the machine's load
    was then. (An epoch time measured in one trial would carry the load of that moment.)
    """
    import torch

    from search.retrain import run_train

    torch.set_num_threads(1)
    final = Path("final")
    run_train(recipe_config(seed, args), final, "cpu", None, None, final / "checkpoint.pt")


def recipe_config(seed: int, args: argparse.Namespace) -> TrickConfig:
    """The recipe unit's stretched config: ``<out>/recipe-<seed>.toml`` once written (so a
    unit can start again on another machine without the fixed unit's study), else the
    recipe trial of ``fixed-<seed>``'s study stretched to that unit's epochs, then stored."""
    import optuna

    from search.export import trial_config
    from search.record import TrialRecord
    from tricks.config import TrickConfig

    stored = args.out / f"recipe-{seed}.toml"
    if stored.exists():
        return TrickConfig.load(stored)
    fixed = json.loads((args.out / f"fixed-{seed}.json").read_text())
    study = optuna.load_study(
        study_name="fashion_mnist_lt", storage=_db(args.work / f"fixed-{seed}")
    )
    trial = next(t for t in study.trials if (TrialRecord(t).recipe or {}).get("name") == RECIPE)
    config = trial_config(study, trial)
    epochs = fixed["search_epochs"] + fixed["final_epochs"] - config.finetune.epochs
    print(
        f"{RECIPE} (trial {trial.number} of fixed-{seed}): {epochs} + "
        f"{config.finetune.epochs} epochs, as many as fixed-{seed} ran",
        flush=True,
    )
    config = config.stretched(epochs)
    config.save(stored)
    return config


def lanes(args: argparse.Namespace) -> None:
    """Two lanes, one per core, each taking the first unit that is ready."""
    todo = [u for u in unit_order(args.seeds) if not (args.out / f"{u[0]}-{u[1]}.json").exists()]
    taken: set[tuple[str, int]] = set()
    lock = threading.Lock()

    def ready(unit: tuple[str, int]) -> bool:
        arm, seed = unit
        return arm != "recipe" or (args.out / f"fixed-{seed}.json").exists()

    def blocked(unit: tuple[str, int]) -> bool:  # its fixed unit failed
        return unit[0] == "recipe" and ("fixed", unit[1]) in taken and not ready(unit)

    def lane(core: int) -> None:
        while True:
            with lock:
                left = [u for u in todo if u not in taken and not blocked(u)]
                unit = next((u for u in left if ready(u)), None)
                if unit is not None:
                    taken.add(unit)
            if unit is None and not left:
                return
            if unit is None:
                time.sleep(30)
                continue
            print(f"core {core}: {unit[0]}-{unit[1]} started", flush=True)
            run_unit(*unit, args, core)

    threads = [threading.Thread(target=lane, args=(core,)) for core in range(args.lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def report(out: Path, page: Path | None = None) -> None:
    """Per arm mean test accuracy [95% t CI]; the paired differences between the arms."""
    from search.stats import mean_ci95

    units = {
        (u["arm"], u["seed"]): u
        for u in map(json.loads, map(Path.read_text, sorted(out.glob("*-*.json"))))
    }
    lines = [
        "| arm | seeds | test bal. acc. (%), mean [95% CI] | final model width "
        "| search trials | search epochs | final epochs | s per width-16 epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        rs = [u for (a, _), u in sorted(units.items()) if a == arm]
        if rs:
            lines.append(_arm_row(arm, rs))
    lines += ["", "| paired by seed | seeds | mean difference (pt) [95% CI] |", "|---|---|---|"]
    for arm, base in (("width", "fixed"), ("width", "recipe"), ("fixed", "recipe")):
        seeds = sorted(s for (a, s) in units if a == arm and (base, s) in units)
        diffs = [(units[(arm, s)]["test"] - units[(base, s)]["test"]) * 100 for s in seeds]
        if diffs:
            m, lo, hi = mean_ci95(diffs)
            lines.append(f"| {arm} - {base} | {len(diffs)} | {m:+.2f} {_ci(lo, hi, '+.2f')} |")
    write_results(out.parent, out.name, lines, sorted(units.values(), key=str))
    if page is not None:
        from search.reference import replace_marked

        page.write_text(replace_marked(page.read_text(), "budget-width", "\n".join(lines)))


def _arm_row(arm: str, units: list[dict[str, Any]]) -> str:
    """One arm's row: seeds, mean test [CI], the final widths, and the means of how the
    budget went (trials and epochs searched, epochs of the final training, the speed).
    No wall time: a unit stopped with its driver and continued later has lost the stretch
    before (``wall.txt`` is written when a unit's process ends)."""
    from search.stats import mean_ci95

    m, lo, hi = mean_ci95([u["test"] * 100 for u in units])
    widths = ", ".join(str(u["width"]) for u in units)

    def mean(key: str, fmt: str = ".0f") -> str:
        return f"{statistics.fmean(u[key] for u in units):{fmt}}" if key in units[0] else "-"

    return (
        f"| {arm} | {len(units)} | {m:.2f} {_ci(lo, hi, '.2f')} | {widths} | {mean('trials')} | "
        f"{mean('search_epochs')} | {mean('final_epochs')} | {mean('epoch_seconds', '.2f')} |"
    )


def _ci(low: float, high: float, fmt: str) -> str:
    return "(needs 2 seeds)" if math.isnan(low) else f"[{low:{fmt}}, {high:{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-time budget per unit")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--lanes", type=int, default=2, help="units side by side, one per core")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/budget_width")
    parser.add_argument("--work", type=Path, default=Path("budget_width_work").resolve())
    parser.add_argument(
        "--set", action="append", default=[], help="passed on to run (a smoke test)"
    )
    parser.add_argument("--report", action="store_true", help="only tabulate the finished units")
    parser.add_argument(
        "--resummarise",
        action="store_true",
        help="write the finished units' summaries again from --work, then tabulate",
    )
    parser.add_argument(
        "--page",
        type=Path,
        help="also write the tables between this docs "
        "page's <!-- reference:budget-width --> markers",
    )
    parser.add_argument("--recipe-unit", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.recipe_unit is not None:
        recipe_unit(args.recipe_unit, args)
        return
    if args.resummarise:
        resummarise(args)
    elif not args.report:
        lanes(args)
    report(args.out, args.page)


if __name__ == "__main__":
    main()

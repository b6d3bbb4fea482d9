"""What a user gains by the epoch: best-so-far test accuracy against epochs spent, per arm.

From the stored units of ``search_efficiency.py`` (nothing is trained): at every point of
a search, the test balanced accuracy of the validation-best complete trial so far (what
``export`` would hand over then), walked in trial order with each trial's epochs (training
and fine-tune) counted as the benchmark counts them. Mean and 95% t band over the seeds per
arm, and the epochs each arm needs to reach the best recipe's level: the mean test accuracy
of the best warm-start recipe at the trial length, read from the tricksearch arm's own
recipe trials.

    python benchmarks/anytime.py [--tag budget1300] [--arms tricksearch,tpe_median]
    python benchmarks/anytime.py --tag full --arms tricksearch,tpe_median,random
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import write_results

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from search.stats import mean_ci95  # noqa: E402

Curve = list[tuple[int, float]]  # (epochs spent, test accuracy of the val-best trial so far)


def best_so_far(unit: dict[str, Any]) -> Curve:
    """One unit's steps: after each trial, the epochs spent and the pick's test accuracy."""
    spent, best_val, best_test, points = 0, -math.inf, math.nan, []
    for trial in sorted(unit["trials"], key=lambda t: t["number"]):
        spent += int(trial["epochs"])
        value = trial.get("value")
        if trial["state"] == "complete" and value is not None and value > best_val:
            best_val, best_test = value, float(trial["test"])
        points.append((spent, best_test))
    return points


def at(curve: Curve, epochs: int) -> float:
    """The curve's value once ``epochs`` are spent (NaN before its first complete trial)."""
    value = math.nan
    for spent, test in curve:
        if spent > epochs:
            break
        value = test
    return value


def recipe_level(units: list[dict[str, Any]]) -> tuple[str, float]:
    """The best warm-start recipe at the trial length: its name and mean test accuracy."""
    tests: dict[str, list[float]] = {}
    for unit in units:
        for trial in unit["trials"]:
            if trial.get("recipe") and trial["state"] == "complete":
                tests.setdefault(trial["recipe"], []).append(float(trial["test"]))
    name = max(tests, key=lambda r: statistics.fmean(tests[r]))
    return name, statistics.fmean(tests[name])


def band(curves: list[Curve], grid: list[int]) -> list[tuple[int, float, float, float]]:
    """``(epochs, mean, low, high)`` over the seeds at each grid point they all reached."""
    rows = []
    for epochs in grid:
        values = [at(c, epochs) for c in curves]
        if all(math.isfinite(v) for v in values):
            rows.append((epochs, *mean_ci95(values)))
    return rows


def epochs_to(curves: list[Curve], level: float) -> list[int | None]:
    """Per seed, the epochs spent when its pick first reaches ``level`` (None: never)."""
    return [next((s for s, t in c if t >= level), None) for c in curves]


def load(store: Path, arm: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(store.glob(f"{arm}-*.json"))]


def table(arms: dict[str, list[Curve]], level: tuple[str, float], marks: list[int]) -> list[str]:
    name, value = level
    head = " | ".join(f"{m} epochs" for m in marks)
    lines = [
        f"Best-so-far test balanced accuracy (%) of the validation-best complete trial, mean "
        f"[95% t interval] over seeds; the level is the best recipe at the trial length "
        f"({name}, {value * 100:.2f}%).",
        "",
        f"| arm | seeds | {head} | epochs to the level, per seed | median |",
        "|---|---|" + "---|" * len(marks) + "---|---|",
    ]
    for arm, curves in arms.items():
        cells = []
        for _, mean, low, high in band(curves, marks):
            cells.append(f"{mean * 100:.2f} [{low * 100:.2f}, {high * 100:.2f}]")
        cells += ["-"] * (len(marks) - len(cells))
        reach = epochs_to(curves, value)
        reached = sorted(r for r in reach if r is not None)
        median = f"{statistics.median(reached):.0f}" if len(reached) > len(reach) / 2 else "never"
        per_seed = ", ".join("never" if r is None else str(r) for r in reach)
        lines.append(f"| {arm} | {len(curves)} | {' | '.join(cells)} | {per_seed} | {median} |")
    return lines


def plot(arms: dict[str, list[Curve]], level: float, budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    grid = list(range(0, budget + 1, max(1, budget // 200)))
    for arm, curves in arms.items():
        rows = band(curves, grid)
        xs = [r[0] for r in rows]
        ax.plot(xs, [r[1] * 100 for r in rows], label=arm)
        ax.fill_between(xs, [r[2] * 100 for r in rows], [r[3] * 100 for r in rows], alpha=0.2)
    ax.axhline(level * 100, color="gray", ls="--", lw=1, label="best recipe at the trial length")
    ax.set(xlabel="epochs spent", ylabel="test balanced accuracy of the pick (%)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="budget1300")
    parser.add_argument("--arms", default="tricksearch,tpe_median")
    parser.add_argument("--marks", default="180,360,720,1105", help="epochs for the table")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument(
        "--page", type=Path, help="also write the table between this docs page's markers"
    )
    args = parser.parse_args()
    store = args.out / f"search_efficiency_{args.tag}"
    units = {arm: load(store, arm) for arm in args.arms.split(",")}
    arms = {arm: [best_so_far(u) for u in found] for arm, found in units.items() if found}
    level = recipe_level(units["tricksearch"])
    marks = [int(m) for m in args.marks.split(",")]
    lines = table(arms, level, marks)
    figure = args.out / f"anytime_{args.tag}.png"
    plot(arms, level[1], marks[-1], figure)
    write_results(args.out, f"anytime_{args.tag}", lines)
    if args.page:
        from search.reference import replace_marked

        text = args.page.read_text()
        args.page.write_text(replace_marked(text, f"anytime-{args.tag}", "\n".join(lines)))
        shutil.copy(figure, args.page.parent / figure.name)  # the page shows it


if __name__ == "__main__":
    main()

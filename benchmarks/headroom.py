"""How many seeds would it take to show the search ahead? Headroom and power, from stored runs.

The budget-1300 search benchmark (``search_efficiency.py --tag budget1300``) found the shipped
workflow (search, then ``export`` and ``train --epochs``) level with TPE + MedianPruner's
workflow retrained the same way and with deferred re-weighting (Cao et al., NeurIPS 2019)
trained 356 + 4 epochs. This asks whether more seeds could turn "level" into "ahead". No
search can lead a control by more than the distance from the control's mean to the best mean
any model of the same architecture reached on this benchmark (the ceiling, an upper bound on
the lead); with the paired seed-to-seed spread the benchmark measured, a two-sided paired t
test at alpha 0.05 (Student 1908) needs the seeds ``statsmodels``' ``TTestPower`` solves for
to see a lead of that size with 80% power. Nothing is trained: it reads the stored units.

    python benchmarks/headroom.py [--power 0.8] [--epoch-seconds 4.5] [--out benchmarks/results]

Each extra seed of a comparison costs the epochs both of its arms spend on one seed
(search and retrain); ``--epoch-seconds`` converts them to core-hours (4.5 s is the fastest
one-thread epoch measured on the project's machines, so the hours are a lower bound).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_io import write_results  # noqa: E402

from search.stats import mean_ci95  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BUDGET = RESULTS / "search_efficiency_budget1300"


@dataclass(frozen=True)
class Arm:
    """Stored units ``PREFIX-<seed>.json`` of one arm; each unit's ``epochs`` count every
    epoch of its seed (a retrain's include its search's)."""

    label: str
    prefix: Path


SHIPPED = Arm("search_retrain (shipped workflow)", BUDGET / "search_retrain")
CONTROLS = (
    Arm("tpe_retrain (TPE + MedianPruner, retrained)", BUDGET / "tpe_retrain"),
    Arm("deferred re-weighting 356 + 4", RESULTS / "search_efficiency_full" / "best_recipe"),
    Arm("deferred re-weighting 1296 + 4 (floor)", BUDGET / "best_recipe"),
)
# Every small-CNN (width 16) model trained well on this benchmark: the best mean is the ceiling.
CEILING = (
    SHIPPED,
    *CONTROLS,
    Arm("deferred re-weighting 80 + 4", RESULTS / "recipe_variants_40" / "80_epochs"),
)


def load(prefix: Path) -> dict[int, dict]:
    """The units of one arm by seed, test accuracy in percent (``search_efficiency`` stores
    fractions, ``recipe_variants`` percent; no accuracy here is at or below 1%)."""
    units = {}
    for path in sorted(prefix.parent.glob(f"{prefix.name}-*.json")):
        unit = json.loads(path.read_text())
        if unit.get("test") is not None:
            unit["test"] = unit["test"] * 100 if unit["test"] <= 1 else unit["test"]
            units[unit["seed"]] = unit
    return units


def seeds_for_power(lead: float, sd: float, power: float, alpha: float = 0.05) -> int:
    """Seeds a two-sided paired t test needs to detect a mean ``lead`` with this ``power``
    when paired differences spread with standard deviation ``sd``."""
    from statsmodels.stats.power import TTestPower  # type: ignore[import-untyped]

    n = TTestPower().solve_power(
        effect_size=lead / sd, alpha=alpha, power=power, alternative="two-sided"
    )
    return math.ceil(n)


def ceiling(arms: tuple[Arm, ...]) -> tuple[str, float, float]:
    """The arm with the best mean test accuracy: its label, mean and upper 95% bound."""
    stats = {
        a.label: mean_ci95([u["test"] for u in units.values()])
        for a in arms
        if (units := load(a.prefix))
    }
    best = max(stats, key=lambda label: stats[label][0])
    return best, stats[best][0], stats[best][2]


def showing(room: float, sd: float, power: float, hours_a_seed: float) -> tuple[str, str]:
    """Seeds, and core-hours for them, that could show a lead of ``room``; dashes if none can."""
    if room <= 0:
        return "none", "-"
    n = seeds_for_power(room, sd, power)
    return str(n), f"{n * hours_a_seed:.0f}"


def row(
    shipped: Arm, control: Arm, tops: tuple[float, float], power: float, epoch_seconds: float
) -> str:
    """``shipped`` against one control: the lead now, the headroom to each ceiling
    estimate (its mean, its upper 95% bound), and the seeds and core-hours to show a lead
    of each size."""
    ours, theirs = load(shipped.prefix), load(control.prefix)
    seeds = sorted(set(ours) & set(theirs))
    diffs = [ours[s]["test"] - theirs[s]["test"] for s in seeds]
    lead, lo, hi = mean_ci95(diffs)
    sd = statistics.stdev(diffs)
    control_mean = statistics.fmean(theirs[s]["test"] for s in seeds)
    epochs = statistics.fmean(ours[s]["epochs"] + theirs[s]["epochs"] for s in seeds)
    rooms = [top - control_mean for top in tops]
    shown = [showing(x, sd, power, epochs * epoch_seconds / 3600) for x in (lead, *rooms)]
    cells = [
        control.label,
        str(len(seeds)),
        f"{lead:+.2f} [{lo:+.2f}, {hi:+.2f}]",
        f"{sd:.2f}",
        f"{control_mean:.2f}",
        " / ".join(f"{room:+.2f}" for room in rooms),
        " / ".join(n for n, _ in shown),
        " / ".join(h for _, h in shown),
    ]
    return "| " + " | ".join(cells) + " |"


def report(power: float, epoch_seconds: float) -> list[str]:
    """The headroom table and how it was computed."""
    best, top, upper = ceiling(CEILING)
    pct = round(power * 100)
    return [
        f"Ceiling: {top:.2f}% test balanced accuracy (upper 95% bound {upper:.2f}%), the best "
        f"mean of any small CNN (width 16) trained on this benchmark ({best}). The most a "
        "search can be expected to lead a control by is the control's distance to it "
        "(headroom), to the mean / to its upper bound.",
        "",
        f"| {SHIPPED.label} - control | seeds | lead now (pt) [95% CI] | paired sd (pt) "
        f"| control mean (%) | headroom (pt) | seeds for {pct}% power: at the lead now / "
        f"at each headroom | core-hours for them at {epoch_seconds} s an epoch |",
        "|---|---|---|---|---|---|---|---|",
        *(row(SHIPPED, c, (top, upper), power, epoch_seconds) for c in CONTROLS),
        "",
        f"Seeds: a two-sided paired t test at alpha 0.05 with {pct}% power for a true lead "
        "equal to the one measured, then to each headroom, at the paired sd measured "
        '(statsmodels TTestPower); "none" where that lead is not positive. A lead can only '
        "reach the headroom if the search's model lands on the ceiling on average, so the "
        "headroom columns are the fewest seeds that could show one. Core-hours: both arms' "
        "epochs for that many seeds.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--power", type=float, default=0.8)
    parser.add_argument("--epoch-seconds", type=float, default=4.5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    lines = report(args.power, args.epoch_seconds)
    write_results(args.out, "headroom", lines)


if __name__ == "__main__":
    main()

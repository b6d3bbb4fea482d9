"""The statistics the ablation and the benchmarks report: t intervals, Wilcoxon tests."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["mean_ci95", "wilcoxon_p"]


def mean_ci95(xs: Sequence[float]) -> tuple[float, float, float]:
    """Mean and two-sided 95% Student t interval ``(mean, low, high)``; NaN bounds for n < 2."""
    from scipy import stats  # type: ignore[import-untyped]

    mean = statistics.fmean(xs)
    if len(xs) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.975, len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs))
    return mean, mean - half, mean + half


def wilcoxon_p(diffs: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences; NaN when undefined."""
    from scipy import stats

    if len(diffs) < 2 or all(d == 0 for d in diffs):
        return math.nan
    return float(stats.wilcoxon(diffs).pvalue)

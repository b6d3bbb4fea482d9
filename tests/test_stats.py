"""The statistics reported by the ablation and the benchmarks, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from search.stats import mean_ci95, wilcoxon_p


def test_t_interval_of_three_values() -> None:
    mean, low, high = mean_ci95([1.0, 2.0, 3.0])
    # sd 1, n 3, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3) = 2.4841.
    assert mean == 2.0 and low == pytest.approx(2 - 2.4841, abs=1e-4)
    assert high == pytest.approx(2 + 2.4841, abs=1e-4)
    assert all(math.isnan(x) for x in mean_ci95([5.0])[1:])


def test_wilcoxon_on_paired_differences() -> None:
    # All 6 differences positive: the exact two-sided p is 2 / 2**6 = 0.03125.
    assert wilcoxon_p([0.5, 1.0, 1.5, 2.0, 2.5, 3.0]) == pytest.approx(0.03125)
    assert math.isnan(wilcoxon_p([0.0, 0.0])) and math.isnan(wilcoxon_p([1.0]))

"""The per-trial learning curve: a reused frame draws exactly what a fresh figure draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.image import imread

from search.figures import _shared_canvas, learning_curve_png


def _curve(n_train: int, n_ft: int, top: float) -> list[dict]:
    rows = [
        {"epoch": i, "phase": "train", "value": top * (i + 1) / n_train, "lr": 0.1 * 0.7**i}
        for i in range(n_train)
    ]
    rows += [
        {"epoch": n_train + i, "phase": "finetune", "value": top + 0.01 * i, "lr": 1e-3}
        for i in range(n_ft)
    ]
    return rows


RESTARTED = (
    _curve(9, 4, 0.8),
    [{"epoch": 3, "reason": "plateau"}, {"epoch": 6, "reason": "pruned"}],
)
PRUNED = (_curve(3, 0, 0.4), [])
# A diverged epoch (NaN metric) and a schedule that reaches exactly zero (min LR factor 0).
DIVERGED = (
    [
        {"epoch": 0, "phase": "train", "value": 0.3, "lr": 0.1},
        {"epoch": 1, "phase": "train", "value": float("nan"), "lr": 0.05},
        {"epoch": 2, "phase": "train", "value": 0.5, "lr": 0.0},
    ],
    [{"epoch": 1, "reason": "diverged"}],
)


def test_reused_frame_draws_what_a_fresh_figure_draws(tmp_path: Path) -> None:
    # A trial with a fine-tune and two restarts, then a short pruned one without either:
    # nothing of the first (span, restart lines, notes, axis limits) may stay in the second.
    learning_curve_png(*RESTARTED, "balanced_accuracy", tmp_path / "a.png")
    learning_curve_png(*DIVERGED, "accuracy", tmp_path / "c.png")
    learning_curve_png(*PRUNED, "macro_f1", tmp_path / "b.png")
    learning_curve_png(*PRUNED, "macro_f1", tmp_path / "b_fresh.png", fresh=True)
    learning_curve_png(*RESTARTED, "balanced_accuracy", tmp_path / "a_again.png")
    learning_curve_png(*RESTARTED, "balanced_accuracy", tmp_path / "a_fresh.png", fresh=True)

    b, b_fresh = imread(tmp_path / "b.png"), imread(tmp_path / "b_fresh.png")
    assert np.array_equal(b, b_fresh)
    a_again, a_fresh = imread(tmp_path / "a_again.png"), imread(tmp_path / "a_fresh.png")
    assert np.array_equal(a_again, a_fresh)
    assert not np.array_equal(a_fresh, b_fresh)  # the two trials do draw differently
    learning_curve_png(*DIVERGED, "accuracy", tmp_path / "c_fresh.png", fresh=True)
    assert np.array_equal(imread(tmp_path / "c.png"), imread(tmp_path / "c_fresh.png"))


def test_epoch_ticks_are_whole_numbers(tmp_path: Path) -> None:
    # A 3-epoch trial: matplotlib's default locator would tick 0, 0.25, ..., 2.
    learning_curve_png(*PRUNED, "balanced_accuracy", tmp_path / "p.png")
    ticks = _shared_canvas().ax.get_xticks()
    inside = [t for t in ticks if 0 <= t <= 2]
    assert len(inside) >= 2
    assert all(float(t).is_integer() for t in ticks)

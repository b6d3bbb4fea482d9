"""Pictures of a trial and of a study, as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["forest_png", "history_png", "learning_curve_png", "per_class_png", "scatter_gain_png"]


_DPI = 80


def _subplots(width: float = 6.4, height: float = 3.6) -> tuple[Figure, Any]:
    # The object-oriented API: no pyplot state, no display, safe off the main thread.
    # Fixed margins: a "tight" layout draws every figure twice. Its own Agg canvas, at
    # the dpi it is saved at: each save then reuses one renderer and its text-size cache
    # (savefig on a bare Figure makes a new canvas and renderer every time).
    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.12, right=0.86, bottom=0.22, top=0.9)
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> Path:
    # zlib level 1: a third of the default's encoding time for ~8% more bytes.
    fig.savefig(path, dpi=_DPI, pil_kwargs={"compress_level": 1})
    return path


class _CurveCanvas:
    """One learning-curve figure per process, redrawn for each trial.

    Building a figure (axes, twin axis, tick objects) costs about as much as drawing it;
    a study draws one curve per trial, so the frame is built once and each call only
    sets the data, adds the trial's own marks (fine-tune span, restarts, legend), saves,
    and removes those marks again. The output is the same as a freshly built figure's
    (tested pixel for pixel).
    """

    def __init__(self) -> None:
        self.fig, self.ax = _subplots()
        self.ax.set_xlabel("epoch (global, across restarts)")
        self.ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))  # epochs are whole
        (self.metric_line,) = self.ax.plot([], [], "o-", color="tab:blue", ms=3)
        self.lr_ax = self.ax.twinx()
        (self.lr_line,) = self.lr_ax.plot([], [], "--", color="tab:orange")
        self.lr_line.set_label("learning rate")
        self.lr_ax.set_ylabel("learning rate at epoch start", color="tab:orange")
        self.lr_ax.set_yscale("log")
        # Plain "2e-02" labels: the default ones go through mathtext, a third of the drawing.
        self.lr_ax.yaxis.set_major_formatter(ticker.LogFormatter(labelOnlyBase=False))
        self.lr_ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False))
        # Fixed axis-label places, clear of 5-character tick labels ("0.750", "1e-02"):
        # placed automatically, each save measures every tick label of both axes again.
        self.ax.xaxis.set_label_coords(0.5, -0.13)
        self.ax.yaxis.set_label_coords(-0.125, 0.5)
        self.lr_ax.yaxis.set_label_coords(1.125, 0.5)

    def draw(
        self,
        curve: Sequence[dict[str, Any]],
        restarts: Sequence[dict[str, Any]],
        metric: str,
        path: Path,
    ) -> Path:
        ax, epochs = self.ax, [p["epoch"] for p in curve]
        self.metric_line.set_data(epochs, [p["value"] for p in curve])
        self.metric_line.set_label(metric)
        ax.set_ylabel(f"validation {metric}", color="tab:blue")
        self.lr_line.set_data(epochs, [p["lr"] for p in curve])
        for a in (ax, self.lr_ax):
            a.relim()
            a.autoscale_view()
        marks: list[Any] = []
        try:
            self._mark(curve, restarts, marks)
            return _save(self.fig, path)
        finally:  # the frame goes back to data only, whatever happened
            for mark in marks:
                mark.remove()

    def _mark(
        self, curve: Sequence[dict[str, Any]], restarts: Sequence[dict[str, Any]], marks: list
    ) -> None:
        """This trial's fine-tune span, restart lines and notes, and legend, into ``marks``."""
        ax = self.ax
        ft = [p["epoch"] for p in curve if p["phase"] == "finetune"]
        if ft:
            span = ax.axvspan(
                min(ft) - 0.5,
                max(ft) + 0.5,
                color="tab:green",
                alpha=0.12,
                label="no-aug fine-tune",
            )
            marks.append(span)
        for i, r in enumerate(restarts):
            x = r["epoch"] + 0.5
            marks.append(ax.axvline(x, color="tab:red", ls=":", label=None if i else "restart"))
            note = ax.annotate(
                r["reason"],
                (x, ax.get_ylim()[0]),
                color="tab:red",
                fontsize=7,
                rotation=90,
                va="bottom",
            )
            marks.append(note)
        handles, labels = ax.get_legend_handles_labels()
        lr_handles, lr_labels = self.lr_ax.get_legend_handles_labels()
        legend = ax.legend(handles + lr_handles, labels + lr_labels, fontsize=7, loc="lower right")
        marks.append(legend)


@functools.cache
def _shared_canvas() -> _CurveCanvas:
    """This process's frame, built at its first learning curve."""
    return _CurveCanvas()


def learning_curve_png(
    curve: Sequence[dict[str, Any]],
    restarts: Sequence[dict[str, Any]],
    metric: str,
    path: Path,
    *,
    fresh: bool = False,
) -> Path:
    """Validation metric and learning rate per epoch; restarts marked, the fine-tune shaded.

    Draws on this process's reusable frame (:class:`_CurveCanvas`); ``fresh`` builds a
    new one for this call alone.
    """
    canvas = _CurveCanvas() if fresh else _shared_canvas()
    return canvas.draw(curve, restarts, metric, path)


def per_class_png(
    per_class: Sequence[float],
    classes: Sequence[str],
    counts: Sequence[int],
    title: str,
    path: Path,
) -> Path:
    """Per-class accuracy bars, labelled with each class's training-image count."""
    fig, ax = _subplots()
    xs = range(len(per_class))
    ax.bar(xs, [v * 100 for v in per_class], color="tab:blue")
    ax.set_xticks(
        list(xs),
        [f"{c}\n(n={n})" for c, n in zip(classes, counts, strict=False)],
        fontsize=6,
        rotation=45,
        ha="right",
    )
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def history_png(
    numbers: Sequence[int],
    values: Sequence[float],
    states: Sequence[str],
    metric: str,
    maximize: bool,
    path: Path,
) -> Path:
    """Optimisation history: each trial's value and the best so far."""
    fig, ax = _subplots()
    colors = {"complete": "tab:blue", "pruned": "tab:gray"}
    for state, color in colors.items():
        pts = [(n, v) for n, v, s in zip(numbers, values, states, strict=True) if s == state]
        if pts:
            ax.scatter(*zip(*pts, strict=True), s=14, color=color, label=f"{state} trials")
    best, running = [], None
    for n, v, s in zip(numbers, values, states, strict=True):
        if s == "complete":
            running = v if running is None else (max(running, v) if maximize else min(running, v))
        best.append((n, running))
    pts = [(n, b) for n, b in best if b is not None]
    if pts:
        ax.step(*zip(*pts, strict=True), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric + " (pruned: last reported)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def scatter_gain_png(
    before: Sequence[float], after: Sequence[float], metric: str, path: Path
) -> Path:
    """Metric before vs after the no-aug fine-tune, one point per completed trial."""
    fig, ax = _subplots(4.2, 4.2)
    ax.scatter(before, after, s=16, color="tab:green")
    lo = min([*before, *after], default=0.0)
    hi = max([*before, *after], default=1.0)
    ax.plot([lo, hi], [lo, hi], color="gray", ls="--", lw=1, label="no change")
    ax.set_xlabel(f"{metric} before fine-tune")
    ax.set_ylabel(f"{metric} after fine-tune")
    ax.legend(fontsize=7)
    return _save(fig, path)


def forest_png(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per trick: the mean difference config - variant with its 95% CI, validation and test."""
    fig, ax = _subplots(width=7.0, height=1.2 + 0.45 * max(1, len(rows)))
    fig.subplots_adjust(left=0.42, right=0.97, bottom=0.2, top=0.92)
    labels = [f"{r['trick']} (trial {r['source_trial']})" for r in rows]
    for offset, split, color in ((-0.15, "val", "tab:blue"), (0.15, "test", "tab:orange")):
        ys = [i + offset for i in range(len(rows))]
        means = [r[split]["mean"] for r in rows]
        lows = [r[split]["mean"] - r[split]["low"] for r in rows]
        highs = [r[split]["high"] - r[split]["mean"] for r in rows]
        ax.errorbar(
            means,
            ys,
            xerr=[lows, highs],
            fmt="o",
            color=color,
            ms=4,
            capsize=3,
            label=f"{split} (95% CI)",
        )
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("config - variant without the trick (points); > 0: the trick helped")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)

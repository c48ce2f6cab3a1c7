"""Figures for weeks 6-7: who computes what when (a per-rank timeline), replica drift, and timings
drawn as medians with their min-max spread. Pure functions returning Figures (see viz.py)."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..repeated_timing import Timing
from .viz import new_figure

SPAN_ORDER = ("forward", "backward", "all-reduce", "step")
PHASE_TITLES = {"alone": "alone: each rank updates its own replica (no communication)",
                "allreduce": "all-reduce by hand: dist.all_reduce(grad), then / N, before the step",
                "ddp": "DDP: the all-reduce runs inside backward (not drawn separately)"}


def span_colours() -> dict[str, tuple]:
    """One colour per kind of span, sampled from viridis (perceptually uniform, colour-blind safe)."""
    cmap = colormaps["viridis"]
    return {what: cmap(x) for what, x in zip(SPAN_ORDER, (0.05, 0.35, 0.65, 0.95))}


def timeline_figure(events: Sequence[tuple], phases: Sequence[str] = ("alone", "allreduce", "ddp"),
                    title: str = "") -> Figure:
    """Events (rank, phase, step, what, start_s, end_s) as horizontal bars: one panel per phase, one row
    per rank, time in milliseconds since the phase's common start (a barrier)."""
    colours = span_colours()
    ranks = sorted({e[0] for e in events})
    fig = new_figure(11, 1.1 + 1.0 * len(phases) * max(1, len(ranks)) / 2 + 0.6)
    axes = np.atleast_1d(fig.subplots(len(phases), 1))
    for ax, phase in zip(axes, phases):
        mine = [e for e in events if e[1] == phase]
        for rank in ranks:
            for _, _, step, what, start, end in (e for e in mine if e[0] == rank):
                ax.broken_barh([(1000 * start, max(1000 * (end - start), 0.05))], (rank - 0.38, 0.76),
                               facecolors=colours[what], edgecolor="white", linewidth=0.3)
        steps_start = {}
        for rank, _, step, what, start, _ in mine:
            if rank == ranks[0] and what == "forward":
                steps_start[step] = start
        for step, start in steps_start.items():  # where each step begins on the first rank
            ax.annotate(f"{step}", (1000 * start, ranks[-1] + 0.42), fontsize=7, ha="left", va="bottom",
                        color="0.35", annotation_clip=False)
        ax.set_yticks(ranks, [f"rank {r}" for r in ranks])
        ax.set_ylim(ranks[0] - 0.5, ranks[-1] + 0.75)
        ax.set_title(PHASE_TITLES.get(phase, phase), fontsize=9, loc="left")
        ax.grid(alpha=0.3, axis="x")
    axes[-1].set_xlabel("milliseconds since the phase started (numbers above the bars: step index)")
    used = [w for w in SPAN_ORDER if any(e[3] == w for e in events)]
    fig.legend(handles=[Patch(facecolor=colours[w], label=w) for w in used], loc="outside lower center",
               ncols=len(used), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def drift_figure(distances: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """Distance between the ranks' parameters after each step, one line per phase (symlog: 0 shows)."""
    fig = new_figure(7, 3.4)
    ax = fig.subplots()
    styles = (("o", "-", 6), ("s", "--", 8), ("^", ":", 4), ("d", "-.", 4))  # lines on top of each other stay visible
    for i, (label, ys) in enumerate(distances.items()):
        marker, line, size = styles[i % 4]
        ax.plot(range(1, len(ys) + 1), ys, marker=marker, linestyle=line, markersize=size, label=label,
                markerfacecolor="none" if i else None)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set(xlabel="step", ylabel="largest ||W_rank - W_rank0|| (L2)", title=title or "distance between replicas")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def timing_chart(timings: Sequence[Timing], title: str) -> Figure:
    """Horizontal bars: the median speed of each setup, with a line from its slowest to fastest repeat."""
    fig = new_figure(8, 0.55 * len(timings) + 1.4)
    ax = fig.subplots()
    ys = np.arange(len(timings))[::-1]
    medians = [t.rate for t in timings]
    lows = [t.rate - t.rate_range[0] for t in timings]
    highs = [t.rate_range[1] - t.rate for t in timings]
    ax.barh(ys, medians, color=colormaps["viridis"](0.55), height=0.6)
    ax.errorbar(medians, ys, xerr=[lows, highs], fmt="none", ecolor="black", capsize=4, linewidth=1)
    for y, t in zip(ys, timings):
        ax.annotate(f"{t.rate:,.0f} ({t.rate_range[0]:,.0f}-{t.rate_range[1]:,.0f})",
                    (t.rate_range[1], y), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, [t.label for t in timings], fontsize=8)
    ax.set_xlim(0, max(t.rate_range[1] for t in timings) * 1.45)  # room for the labels
    unit = timings[0].unit if timings else ""
    ax.set(xlabel=f"{unit} / s: median of the repeats, line = slowest to fastest repeat", title=title)
    ax.grid(alpha=0.3, axis="x")
    return fig

"""Matplotlib figures for the lessons: pure functions that take tensors and return a Figure.

No pyplot state: every function builds a `matplotlib.figure.Figure` (so nothing leaks between cells or
threads) and the caller shows it (a Figure is the last expression of a cell) or turns it into PNG bytes
with `to_png` (what the widgets do). Images are (C,H,W) or (H,W) tensors/arrays with values in [0, 1]
or uint8; maps are 2-D.
"""
from __future__ import annotations

import io
import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class CourseFigure(Figure):
    """A Figure that IPython shows as a PNG even when no pyplot backend is active."""

    def _repr_png_(self) -> bytes:
        return to_png(self)


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free Figure of `width` x `height` inches with an Agg canvas."""
    fig = CourseFigure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def as_numpy_image(img) -> np.ndarray:
    """(C,H,W) or (H,W) tensor/array, uint8 or float in [0,1] -> (H,W) or (H,W,3) float array."""
    if isinstance(img, torch.Tensor):
        is_int, a = not img.is_floating_point(), img.detach().cpu().float().numpy()
    else:
        raw = np.asarray(img)
        is_int, a = np.issubdtype(raw.dtype, np.integer), raw.astype(float)
    if is_int:
        a = a / 255.0
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)  # (C,H,W) -> (H,W[,C])
    return np.clip(a, 0.0, 1.0)


def show_image(ax, img, title: str | None = None, **kw) -> None:
    """Draw one image on the axes `ax` (grey for one channel), without ticks, with an optional title."""
    a = as_numpy_image(img)
    ax.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, **kw)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8)


def image_grid(images, labels: Sequence[int] | None = None, classes: Sequence[str] | None = None,
               predictions: Sequence[int] | None = None, notes: Sequence[str] | None = None,
               ncols: int = 8, title: str = "", size: float = 1.3) -> Figure:
    """Images (N,C,H,W) in a grid; each titled with its label (and prediction, red when wrong)."""
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = new_figure(size * ncols, size * nrows + 0.65)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    name = (lambda k: classes[int(k)]) if classes is not None else (lambda k: str(int(k)))
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        parts = []
        if labels is not None:
            parts.append(name(labels[i]))
        if predictions is not None:
            parts.append(f"pred {name(predictions[i])}")
        if notes is not None:
            parts.append(notes[i])
        show_image(ax, images[i], "\n".join(parts) if parts else None)
        if predictions is not None and labels is not None and int(predictions[i]) != int(labels[i]):
            ax.title.set_color("red")
    fig.suptitle(title or f"{n} images of shape {tuple(images.shape[1:])}")
    return fig


def single_map(m, title: str = "", ax=None, cmap: str = "viridis", colorbar: bool = True,
               annotate: bool = False, vmin=None, vmax=None, fmt: str = "{:.1f}") -> Figure:
    """One 2-D map (a feature map, a filter response, a CAM) with a colorbar; `annotate` writes values."""
    a = m.detach().float().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, dtype=float)
    fig = ax.figure if ax is not None else new_figure(4, 3.6)
    ax = ax if ax is not None else fig.subplots()
    im = ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(f"x ({a.shape[1]} px)", fontsize=8)
    ax.set_ylabel(f"y ({a.shape[0]} px)", fontsize=8)
    ax.tick_params(labelsize=7)
    if colorbar:
        fig.colorbar(im, ax=ax, shrink=0.8)
    if annotate and a.size <= 100:
        lo, hi = (np.nanmin(a) if vmin is None else vmin), (np.nanmax(a) if vmax is None else vmax)
        mid = (lo + hi) / 2
        for (i, j), v in np.ndenumerate(a):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6,
                    color="black" if v > mid else "white")
    return fig


def map_row(maps: Mapping[str, object], title: str = "", cmap: str = "gray", size: float = 3.0,
            colorbar: bool = False) -> Figure:
    """Several named 2-D maps or images side by side (e.g. a photo and its filter responses)."""
    fig = new_figure(size * len(maps), size + 0.5)
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, (name, m) in zip(axes, maps.items()):
        a = m.detach().float().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, dtype=float)
        if a.ndim == 3:  # an image (C,H,W)
            show_image(ax, m, name)
            continue
        im = ax.imshow(a, cmap=cmap)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if colorbar:
            fig.colorbar(im, ax=ax, shrink=0.7)
    if title:
        fig.suptitle(title)
    return fig


def feature_map_grid(maps, title: str = "", max_channels: int = 16, ncols: int = 8,
                     highlight: int | None = None, size: float = 1.2, names: Sequence[str] | None = None,
                     shared_scale: bool = False) -> Figure:
    """The channels of a (C,H,W) tensor as small maps, each on its own colour scale unless `shared_scale`."""
    c = min(len(maps), max_channels)
    lo, hi = (float(maps[:c].min()), float(maps[:c].max())) if shared_scale else (None, None)
    ncols = max(1, min(ncols, c))
    nrows = math.ceil(c / ncols)
    fig = new_figure(size * ncols, size * nrows + 0.5)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= c:
            ax.axis("off")
            continue
        im = ax.imshow(maps[i].detach().float().cpu().numpy(), cmap="viridis", vmin=lo, vmax=hi)
        ax.set_title(names[i] if names else f"ch {i}", fontsize=7, color="red" if i == highlight else "black")
        if i == highlight:
            for s in ax.spines.values():
                s.set_color("red")
                s.set_linewidth(2)
    if shared_scale:
        fig.colorbar(im, ax=axes, shrink=0.8)
    fig.suptitle(title or f"{len(maps)} channels of {tuple(maps.shape[1:])}")
    return fig


def layer_overview(feature_maps: Mapping[str, torch.Tensor], image, channels: int = 6,
                   title: str = "") -> Figure:
    """One row per layer ({name: (C,H,W)}): its first `channels` maps on one colour scale per row (with its
    colour bar), next to the input image."""
    names = list(feature_maps)
    fig = new_figure(1.25 * (channels + 1), 1.3 * len(names) + 0.6)
    axes = fig.subplots(len(names), channels + 1, squeeze=False)
    for r, name in enumerate(names):
        maps = feature_maps[name]
        if r == 0:
            show_image(axes[r, 0], image, "input")
        else:
            axes[r, 0].axis("off")
        axes[r, 0].text(-0.15, 0.5, f"{name}\n{tuple(maps.shape)}", transform=axes[r, 0].transAxes,
                        ha="right", va="center", fontsize=7)
        shown = maps[:channels].detach().float().cpu()
        lo, hi = float(shown.min()), float(shown.max())
        for c in range(channels):
            ax = axes[r, c + 1]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(maps):
                im = ax.imshow(shown[c].numpy(), cmap="viridis", vmin=lo, vmax=hi)
            else:
                ax.axis("off")
        fig.colorbar(im, ax=axes[r, 1:], shrink=0.9, pad=0.01)
    fig.suptitle(title or "successive layers: smaller maps, more channels")
    return fig


def upsample_map(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (h,w) map resized to `size` with bilinear interpolation (how CAMs are laid over images)."""
    return F.interpolate(m[None, None].float(), size=size, mode="bilinear", align_corners=False)[0, 0]


def cam_overlay(image, cam: torch.Tensor, title: str = "", class_name: str = "",
                score: float | None = None) -> Figure:
    """Image | class activation map (h,w) with values | the CAM upsampled and laid over the image."""
    a = as_numpy_image(image)
    fig = new_figure(10, 3.4)
    ax_img, ax_cam, ax_over = fig.subplots(1, 3)
    show_image(ax_img, image, "input")
    single_map(cam, f"CAM of {class_name!r} {tuple(cam.shape)}", ax=ax_cam, cmap="inferno")
    big = upsample_map(cam.detach().cpu(), a.shape[:2]).numpy()
    ax_over.imshow(a, cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1)
    ax_over.imshow(big, cmap="inferno", alpha=0.5)
    ax_over.set_xticks([])
    ax_over.set_yticks([])
    extra = f"; mean = logit = {score:.2f}" if score is not None else ""
    ax_over.set_title(f"overlay{extra}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def training_curves(histories: Mapping[str, object], title: str = "") -> Figure:
    """Loss and accuracy for several runs ({label: History}): the training curve within epochs (a point per
    1/8 epoch, so one epoch of fast mode still reads as a curve) and the test set after every epoch."""
    fig = new_figure(10, 3.6)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (label, h) in enumerate(histories.items()):
        colour = f"C{i}"
        if h.curve_epoch:
            ax_loss.plot(h.curve_epoch, h.curve_loss, ".-", color=colour, alpha=0.6, label=f"{label} train")
            ax_acc.plot(h.curve_epoch, [100 * a for a in h.curve_acc], ".-", color=colour, alpha=0.6,
                        label=f"{label} train")
        else:  # a History from before the curve was recorded: per epoch only
            ax_loss.plot(h.epoch, h.train_loss, "o--", color=colour, label=f"{label} train")
        ax_loss.plot(h.epoch, h.test_loss, "s-", color=colour, markersize=7, label=f"{label} test")
        ax_acc.plot(h.epoch, [100 * a for a in h.test_acc], "s-", color=colour, markersize=7, label=f"{label} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (train: per 1/8 epoch; test: per epoch)")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig


def line_plot(series: Mapping[str, Sequence[float]], title: str, xlabel: str, ylabel: str,
              x: Sequence[float] | None = None, logy: bool = False) -> Figure:
    """One line per named series (e.g. the loss after each step on one batch)."""
    fig = new_figure(6, 3.6)
    ax = fig.subplots()
    for label, ys in series.items():
        ax.plot(x if x is not None else range(len(ys)), ys, "o-", markersize=3, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return fig


def bar_chart(values: Mapping[str, float] | Mapping[str, Mapping[str, float]], title: str,
              ylabel: str, logy: bool = False, fmt: str = "{:.3g}", highlight: Sequence[str] = (),
              rotate: int = 0) -> Figure:
    """Bars for {name: value}, or grouped bars for {group: {name: value}}; values written on top."""
    groups = values if values and isinstance(next(iter(values.values())), Mapping) else {"": values}
    names = list(dict.fromkeys(k for g in groups.values() for k in g))
    fig = new_figure(max(4.0, 0.55 * len(names) * len(groups) + 2), 3.8)
    ax = fig.subplots()
    width = 0.8 / len(groups)
    for gi, (group, vals) in enumerate(groups.items()):
        xs = np.arange(len(names)) + (gi - (len(groups) - 1) / 2) * width
        ys = [vals.get(n, np.nan) for n in names]
        colors = ["tab:red" if n in highlight else f"C{gi}" for n in names]
        bars = ax.bar(xs, ys, width, label=group or None, color=colors)
        for b, y in zip(bars, ys):
            if np.isfinite(y):
                ax.annotate(fmt.format(y), (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(np.arange(len(names)), names, rotation=rotate, fontsize=8,
                  ha="right" if rotate else "center")
    ax.set(title=title, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    if len(groups) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return fig


def heatmap(m, title: str, xlabel: str, ylabel: str, xticklabels: Sequence[str] | None = None,
            yticklabels: Sequence[str] | None = None, cmap: str = "coolwarm", center: bool = True) -> Figure:
    """A matrix (rows x columns) as colours, e.g. a batch's logits (N,K); centred at 0 by default."""
    a = m.detach().float().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, dtype=float)
    fig = new_figure(max(4.0, 0.45 * a.shape[1] + 1.5), max(3.0, 0.22 * a.shape[0] + 1.2))
    ax = fig.subplots()
    lim = float(np.abs(a).max()) or 1.0
    im = ax.imshow(a, cmap=cmap, aspect="auto", vmin=-lim if center else None, vmax=lim if center else None)
    if xticklabels is not None:
        ax.set_xticks(range(len(xticklabels)), xticklabels, rotation=45, ha="right", fontsize=7)
    if yticklabels is not None:
        ax.set_yticks(range(len(yticklabels)), yticklabels, fontsize=7)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.colorbar(im, ax=ax)
    return fig

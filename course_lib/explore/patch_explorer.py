"""Week 4: the top-activating patches of any layer and channel (sliders), and a static overview figure.

`PatchExplorer(top)` only indexes a `patches.TopPatches` computed once; `patch_overview(top)` is the
fallback figure for a notebook read without a kernel. Patches are grey images; light blue marks the part
of a receptive field that lies outside the image (the conv layers' zero padding).
"""
from __future__ import annotations

from typing import Sequence

import ipywidgets as W
import matplotlib.colors
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..models.patches import LayerPatches, TopPatches
from . import viz
from .widgets import Explorer, View

OUTSIDE = (0.62, 0.79, 0.88)  # light blue: the part of a receptive field outside the image
SEPARATOR = (0.90, 0.33, 0.05)  # orange lines between the patches of a mosaic


def to_rgb(patch) -> np.ndarray:
    """A grey patch (h, w) in [0, 1] with NaN outside the image -> (h, w, 3), NaN drawn light blue."""
    a = np.asarray(patch, dtype=float)
    rgb = np.repeat(np.clip(a, 0, 1)[..., None], 3, axis=2)
    rgb[np.isnan(a)] = OUTSIDE
    return rgb


def mosaic(patches: torch.Tensor, ncols: int, min_size: int = 24) -> np.ndarray:
    """(n, s, s) grey patches -> one RGB image, patches enlarged to >= `min_size` px, orange lines between."""
    n = patches.shape[0]
    scale = max(1, -(-min_size // patches.shape[-1]))  # small patches: each pixel drawn scale x scale
    s = patches.shape[-1] * scale
    nrows = -(-n // ncols)
    out = np.empty((nrows * (s + 1) - 1, ncols * (s + 1) - 1, 3))
    out[:] = SEPARATOR
    for r in range(n):
        y, x = divmod(r, ncols)
        big = to_rgb(patches[r].numpy()).repeat(scale, axis=0).repeat(scale, axis=1)  # (s/scale,..) -> (s, s, 3)
        out[y * (s + 1):y * (s + 1) + s, x * (s + 1):x * (s + 1) + s] = big
    return out


def _show_patch(ax, array, title: str = "", fontsize: int = 9) -> None:
    rgb = array if np.ndim(array) == 3 else to_rgb(array)
    ax.imshow(rgb, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def channel_figure(layer: LayerPatches, channel: int, images: torch.Tensor, classes: Sequence[str] | None = None,
                   labels: torch.Tensor | None = None, ncols: int = 3) -> Figure:
    """The top patches of one channel, strongest first, and the strongest one's box in its image."""
    k = layer.patches.shape[1]
    nrows = -(-k // ncols)
    fig = viz.new_figure(3.0 + 1.6 * ncols, max(3.6, 1.55 * nrows + 0.7))
    grid = fig.add_gridspec(nrows, ncols + 2)
    for r in range(k):
        ax = fig.add_subplot(grid[r // ncols, r % ncols])
        value = float(layer.values[channel, r])
        _show_patch(ax, layer.patches[channel, r].numpy(), f"#{r + 1}: {value:.2f}" + ("" if value > 0 else " (off)"),
                    10)
    ax = fig.add_subplot(grid[:, ncols:])
    index = int(layer.image_index[channel, 0])
    name = ""
    if labels is not None:
        y = int(labels[index])
        name = f" ({classes[y] if classes else y})"
    _show_patch(ax, viz.as_numpy_image(images[index]), f"#1 comes from image {index}{name}", 10)
    top, left, _, _ = layer.box(channel, 0)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), layer.rf, layer.rf, fill=False, color="red", lw=2))
    fig.suptitle(f"{layer.name} channel {channel}: the {k} patches ({layer.rf}x{layer.rf} px) that activate it "
                 "most, with the activation", fontsize=11)
    return fig


def patch_overview(top: TopPatches, layers: Sequence[str] | None = None, channels: int = 6,
                   per_channel: int = 4) -> Figure:
    """One row per layer, one column per channel: each cell the channel's `per_channel` strongest patches."""
    names = list(layers or top.layers)
    fig = viz.new_figure(1.55 * channels + 1.6, 1.6 * len(names) + 0.8)
    axes = fig.subplots(len(names), channels, squeeze=False)
    side = int(np.ceil(np.sqrt(per_channel)))
    for row, name in enumerate(names):
        layer = top.layers[name]
        for c in range(channels):
            ax = axes[row, c]
            if c >= layer.channels:
                ax.axis("off")
                continue
            _show_patch(ax, mosaic(layer.patches[c, :per_channel], side), f"ch {c}" if row == 0 else "")
        axes[row, 0].set_ylabel(f"{name}\n{layer.rf}x{layer.rf} px", fontsize=10)
    fig.suptitle(f"the {per_channel} input patches that activate each channel most, per layer (light blue: "
                 "outside the image)", fontsize=11)
    return fig


class PatchExplorer(Explorer):
    """Week 4: choose a layer and a channel; see the patches of the data set that activate it most."""

    def __init__(self, top: TopPatches, labels: torch.Tensor | None = None, classes: Sequence[str] | None = None):
        self.top, self.labels, self.classes = top, labels, classes
        names = list(top.layers)
        layer = W.SelectionSlider(options=names, value=names[0], description="layer", continuous_update=False,
                                  layout=W.Layout(width="360px"))
        channel = W.IntSlider(value=0, min=0, max=top.layers[names[0]].channels - 1, description="channel",
                              continuous_update=False)
        super().__init__({"layer": layer, "channel": channel}, image_width="720px")

    def _sync_controls(self, setting):
        self.controls["channel"].max = self.top.layers[setting["layer"]].channels - 1  # before the value
        super()._sync_controls(setting)

    def view(self, **s) -> View:
        name = s["layer"]
        if name not in self.top.layers:
            raise KeyError(f"unknown layer {name!r}; layers: {', '.join(self.top.layers)}")
        layer = self.top.layers[name]
        channel = min(max(int(s["channel"]), 0), layer.channels - 1)
        off = "" if float(layer.values[channel, 0]) > 0 else (" - this channel is 0 (ReLU off) on every one of "
                                                              "these images: its patches mean nothing")
        return View({"layer": name, "channel": channel}, layer.patches[channel],
                    f"{name}: channel {channel} of {layer.channels}; each patch is the {layer.rf}x{layer.rf} px "
                    f"receptive field of the image's strongest unit; top {self.top.k} of "
                    f"{len(self.top.images)} images{off}",
                    {"layer": layer, "values": layer.values[channel], "images": layer.image_index[channel]})

    def figure(self, view: View) -> Figure:
        return channel_figure(view.info["layer"], view.setting["channel"], self.top.images, self.classes,
                              self.labels)


def gradient_figure(image: torch.Tensor, grad: torch.Tensor, box: tuple[int, int, int, int], title: str = "") -> Figure:
    """Image | d(unit)/d(input) (diverging, centred at 0) | where it is exactly 0 inside the field; red = the field."""
    top, left, bottom, right = box
    g = grad.detach().float().cpu().numpy()
    inside = np.zeros_like(g, dtype=bool)
    inside[max(top, 0):bottom + 1, max(left, 0):right + 1] = True
    fig = viz.new_figure(11, 3.9)
    ax_img, ax_grad, ax_zero = fig.subplots(1, 3)
    _show_patch(ax_img, viz.as_numpy_image(image), "input", 10)
    lim = float(np.abs(g).max()) or 1.0
    im = ax_grad.imshow(g, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.colorbar(im, ax=ax_grad, shrink=0.85)
    ax_grad.set_title("d(unit) / d(input pixel)", fontsize=10)
    status = np.where(~inside, 0, np.where(g == 0, 2, 1))  # 0 outside, 1 inside and non-zero, 2 inside and zero
    colours = matplotlib.colors.ListedColormap(["#d9d9d9", "#3182bd", "#fd8d3c"])
    ax_zero.imshow(status, cmap=colours, vmin=-0.5, vmax=2.5, interpolation="nearest")
    ax_zero.set_title("grey: outside (always 0)\nblue: inside, non-zero; orange: inside, exactly 0", fontsize=10)
    for ax in (ax_img, ax_grad, ax_zero):
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False, color="red",
                               lw=2))
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=11)
    return fig

"""fast_render against matplotlib itself: the same pixels, or the same picture where text is stamped."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from matplotlib.font_manager import FontProperties
from PIL import Image

from course_lib.explore import fast_render, viz

from .test_widgets import VIZ_CALLS


def decode(png: bytes) -> np.ndarray:
    """PNG bytes -> (H,W,3) int array, by PIL (an independent decoder)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.mark.parametrize("channels", [3, 4])
def test_encode_png_is_lossless(channels):
    rng = np.random.default_rng(0)
    px = rng.integers(0, 256, (37, 53, channels), dtype=np.uint8)
    px[10:20] = px[9]  # repeated rows, as in figures
    png = fast_render.encode_png(px)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), px)


@pytest.mark.parametrize("name", ["single_map", "cam_overlay", "heatmap", "bar_chart", "image_grid"])
def test_figure_png_draws_the_same_pixels_as_savefig(name):
    def build():
        torch.manual_seed(0)
        return VIZ_CALLS[name]()  # a fresh figure each: a constrained layout moves again when redrawn

    assert np.array_equal(decode(fast_render.figure_png(build())), decode(viz.to_png(build())))


def test_lru_keeps_the_most_recent_and_makes_missing_values_once():
    cache, made = fast_render.LRU(2), []
    for k in "abca":
        cache.get(k, lambda k=k: made.append(k) or k.upper())
    assert made == ["a", "b", "c", "a"] and len(cache) == 2  # "a" left when "c" came, so it was made again
    assert "c" in cache and "b" not in cache and cache.get("z") is None


def _ink_box(px: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero((px < 128).any(-1))  # dark text on white
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("ha,va", [("center", "center"), ("left", "center_baseline"), ("center", "baseline"),
                                   ("right", "top"), ("left", "bottom")])
def test_text_stamps_land_where_matplotlib_draws_the_text(ha, va):
    fig = viz.new_figure(2, 1)
    fig.text(0.5, 0.5, "0.25 e-3", ha=ha, va=va, fontsize=9)
    drawn = decode(fast_render.figure_png(fig))
    fig.texts[0].set_visible(False)
    fast_render.figure_png(fig)
    blank = fast_render.pixels(fig)
    h, w = blank.shape[:2]
    fast_render.TextStamps().paint(blank, w / 2, h / 2, "0.25 e-3", FontProperties(size=9), "black", ha, va)
    stamped = blank[..., :3].astype(int)
    assert np.abs(np.subtract(_ink_box(stamped), _ink_box(drawn))).max() <= 1
    assert np.abs(stamped - drawn).mean() < 1.0  # the same glyphs (FreeType's), at most a pixel's shading apart


def test_live_frame_equals_a_full_draw_of_the_same_state():
    """Update an image's data and limits, a title and a line: the frame shows what drawing it all would."""
    torch.manual_seed(0)
    fig = viz.single_map(torch.randn(14, 14), "first")
    ax = fig.axes[0]
    (marker,) = ax.plot(3, 4, "r+", markersize=12)
    live = fast_render.LiveFigure(fig, [*ax.images, ax.title, marker], [ax.images[0].colorbar])
    live.frame()
    a = np.random.default_rng(1).normal(size=(14, 14)) * 7
    ax.images[0].set_data(a)
    ax.images[0].set_clim(*fast_render.color_limits(a))
    ax.title.set_text("second, a longer title")
    marker.set_data([9], [2])
    frame = decode(fast_render.encode_png(live.frame()))

    fresh = viz.single_map(torch.tensor(a), "second, a longer title")  # the same state, drawn from scratch
    fresh.axes[0].plot(9, 2, "r+", markersize=12)
    fresh.set_dpi(fast_render.DPI)
    for new, old in zip(fresh.axes, fig.axes):  # with the layout the live figure froze
        new.set_position(old.get_position())
    fresh.set_layout_engine("none")
    full = decode(fast_render.figure_png(fresh))
    box = ax.get_window_extent()  # the map: painted by fast_render, must be exactly matplotlib's pixels
    rows = slice(int(frame.shape[0] - box.y1) + 2, int(frame.shape[0] - box.y0) - 2)
    cols = slice(int(box.x0) + 2, int(box.x1) - 2)
    assert np.array_equal(frame[rows, cols], full[rows, cols])
    assert np.mean(np.abs(frame - full).max(-1) > 64) < 0.01  # elsewhere only stamped text shades differ
    assert fast_render.color_limits(np.zeros((2, 2))) == (-0.1, 0.1)  # a dead channel: as Colorbar widens it

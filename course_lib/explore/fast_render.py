"""Explorer frames in milliseconds: a Figure laid out and drawn once, then only what a slider changed.

`viz.to_png` lays a figure out, draws every artist and compresses the PNG hard: hundreds of milliseconds
per new setting on 2 shared cores (`benchmarks/slider_render.py`). Between two settings of an explorer only
a few things change (an image, a title, a box, the numbers written in cells and on a colour bar). A
`LiveFigure` keeps the explorer's Figure with its layout frozen after the first draw, keeps the pixels of
everything else, and per frame restores them and redraws only the changed ("dynamic") artists: images
colour-mapped and painted with Agg's nearest sampling, one-line texts (titles, cell values, colour-bar
labels) by `TextStamps` from FreeType bitmaps cached per string, the rest by matplotlib's own renderer.
`png.encode_png` writes the pixels as a lossless PNG in about 1 ms (zlib level 1 after PNG's "up" filter).
Matplotlib's object API only, no pyplot; a LiveFigure belongs to one thread.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import YAxis
from matplotlib.backends.backend_agg import FigureCanvasAgg, get_hinting_flag
from matplotlib.colorbar import Colorbar
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.text import Text

from .png import DPI, LRU, encode_png, figure_png, pixels

__all__ = ["DPI", "LRU", "LiveFigure", "TextStamps", "YTicks", "bars_path", "color_limits", "encode_png",
           "figure_png", "pixels"]  # the PNG helpers live in png.py


def color_limits(a: np.ndarray) -> tuple[float, float]:
    """The (vmin, vmax) that imshow + colorbar give `a`: its range, widened by 10 % when flat (a dead channel)."""
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    if hi - lo > max(abs(lo), abs(hi)) * 1e-15:  # what Colorbar does (matplotlib's transforms._nonsingular)
        return lo, hi
    return (-0.1, 0.1) if lo == hi == 0 else (lo - 0.1 * abs(lo), hi + 0.1 * abs(hi))


def bars_path(edges: np.ndarray, heights: np.ndarray) -> Path:
    """One compound Path of the bars [edges[k], edges[k+1]] x [0, heights[k]] (a histogram in one draw)."""
    x0, x1, h = edges[:-1], edges[1:], np.asarray(heights, float)
    corners = np.stack([np.stack(p, -1) for p in ((x0, 0 * h), (x1, 0 * h), (x1, h), (x0, h), (x0, 0 * h))], 1)
    codes = np.tile([Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY], len(h))
    return Path(corners.reshape(-1, 2), codes)  # (K,5,2) -> (5K,2): five vertices per bar


class TextStamps:
    """One-line texts painted from FreeType bitmaps rendered once per (text, font) and aligned like a Text."""

    def __init__(self, dpi: int = DPI, max_items: int = 4096):
        self.dpi, self.max_items = dpi, max_items
        self._bitmaps: OrderedDict = OrderedDict()
        self._lines: dict = {}

    def _line_metrics(self, prop: FontProperties) -> tuple[float, float]:
        """(ascent, descent) in pixels a one-line Text reserves at least (matplotlib's Text._get_layout)."""
        if prop not in self._lines:
            font = get_font(findfont(prop))
            table = font.get_sfnt_table("OS/2")
            asc, desc = ("sTypoAscender", "sTypoDescender") if table else ("ascent", "descent")
            table = table or font.get_sfnt_table("hhea")
            scale = prop.get_size_in_points() * self.dpi / 72 / font.get_sfnt_table("head")["unitsPerEm"]
            self._lines[prop] = (table[asc] * scale, -table[desc] * scale)
        return self._lines[prop]

    def _bitmap(self, text: str, prop: FontProperties) -> tuple:
        key = (text, prop)
        hit = self._bitmaps.get(key)
        if hit is None:
            font = get_font(findfont(prop))
            font.clear()
            font.set_size(prop.get_size_in_points(), self.dpi)
            font.set_text(text, 0.0, flags=get_hinting_flag())
            font.draw_glyphs_to_bitmap(antialiased=True)
            w, h = (v / 64 for v in font.get_width_height())
            ink_descent = font.get_descent() / 64
            ascent, descent = self._line_metrics(prop)
            coverage = np.asarray(font.get_image(), dtype=np.float32)[..., None] / 255  # (h,w,1) in [0,1]
            hit = (coverage, w, max(h - ink_descent, ascent), max(ink_descent, descent), ink_descent,
                   font.get_bitmap_offset()[0] / 64)
            self._bitmaps[key] = hit
            if len(self._bitmaps) > self.max_items:
                self._bitmaps.popitem(last=False)
        return hit

    def paint(self, px: np.ndarray, x: float, y: float, text: str, prop: FontProperties, color,
              ha: str = "center", va: str = "center") -> None:
        """Paint `text` on `px` (H,W,3 or 4) anchored at display point (x, y) (pixels up from the bottom left)."""
        coverage, w, a, d, ink_descent, x_offset = self._bitmap(text, prop)
        left = x - {"left": 0.0, "center": w / 2, "right": w}[ha]
        baseline = y + {"baseline": 0.0, "center": (d - a) / 2, "center_baseline": -a / 2, "top": -a,
                        "bottom": d}[va]
        bottom = px.shape[0] + 1 - round(baseline - ink_descent)  # rows count down from the top; +1 as Agg
        top, col = bottom - coverage.shape[0], round(left + x_offset)
        r0, c0 = max(top, 0), max(col, 0)
        r1, c1 = min(bottom, px.shape[0]), min(col + coverage.shape[1], px.shape[1])
        if r0 >= r1 or c0 >= c1:
            return
        cov = coverage[r0 - top:r1 - top, c0 - col:c1 - col]
        region = px[r0:r1, c0:c1, :3]
        rgb = np.asarray(to_rgb(color), np.float32) * 255
        region[...] = (region + (rgb - region) * cov + 0.5).astype(np.uint8)  # alpha blend, as Agg does


class YTicks:
    """A y axis's ticks and labels painted for its current limits without the Axis machinery (the axis leaves
    the background; its label stays in it): a histogram's counts, or a colour bar's values (`cbar`: its
    mappable's limits, set on the axis per frame)."""

    def __init__(self, axis: YAxis, stamps: TextStamps, cbar: Colorbar | None = None):
        self.axis, self.stamps, self.cbar = axis, stamps, cbar
        side = {"left": 1, "right": 2}.get(axis.get_ticks_position())
        if side is None:
            raise ValueError(f"YTicks paints ticks on one side, left or right, not {axis.get_ticks_position()!r}")
        if cbar is not None:
            cbar.mappable.callbacks.disconnect(cbar.mappable.colorbar_cid)  # limits change per frame, solids do not
        axis.set_animated(True)  # ticks, tick labels and offset text leave the background
        tick = axis.get_major_ticks()[0]
        self.label, self.edge = getattr(tick, f"label{side}"), side - 1  # a template for the labels; x of the axis
        line = getattr(tick, f"tick{side}line")
        self.marks = Line2D([], [], transform=axis.axes.get_yaxis_transform(which=f"tick{side}"), linestyle="none",
                            marker=line.get_marker(), markersize=line.get_markersize(),
                            markeredgewidth=line.get_markeredgewidth(), color=line.get_color())
        self.marks.set_figure(axis.axes.figure)

    def paint(self, px: np.ndarray, renderer) -> None:
        """Draw the ticks for the axis's limits onto the canvas, then their labels onto `px`."""
        if self.cbar is not None:
            norm = self.cbar.mappable.norm
            self.axis.set_view_interval(norm.vmin, norm.vmax, ignore=True)  # what the locator and formatter read
        lo, hi = sorted(self.axis.get_view_interval())
        eps = 1e-9 * (hi - lo)
        locs = [v for v in self.axis.get_major_locator()() if lo - eps <= v <= hi + eps]
        formatter = self.axis.get_major_formatter()
        labels = formatter.format_ticks(locs)
        self.marks.set_data(np.full(len(locs), self.edge), locs)
        self.marks.draw(renderer)
        prop, color, ha = self.label.get_fontproperties(), self.label.get_color(), self.label.get_ha()
        x = self.label.get_transform().transform((self.edge, 0))[0]  # axes edge + tick length + pad
        for loc, text in zip(locs, labels):
            y = self.axis.axes.transData.transform((0, loc))[1]
            self.stamps.paint(px, x, y, text, prop, color, ha, "center_baseline")
        offset = formatter.get_offset()
        if offset:  # e.g. "1e-5" above the axis
            t = self.axis.offsetText
            x, y = t.get_transform().transform(t.get_position())
            self.stamps.paint(px, x, y, offset, t.get_fontproperties(), t.get_color(), t.get_ha(), t.get_va())


class LiveFigure:
    """A Figure laid out and drawn once; each `frame` restores its static pixels and redraws `dynamic` artists.

    Set the dynamic artists' new data (set_data, set_clim, set_text, set_xy, set_ylim...), call `frame()`,
    paint cell values if any, then `png()`. Axes frames around a dynamic artist are redrawn too (they lie over
    images); colour bars (`colorbars`) get ticks for their mappable's current limits, and the y axes in
    `y_axes` for their current limits.
    """

    def __init__(self, fig: Figure, dynamic: Iterable[Artist], colorbars: Iterable[Colorbar] = (),
                 y_axes: Iterable[YAxis] = (), dpi: int = DPI):
        if not isinstance(fig.canvas, FigureCanvasAgg):
            FigureCanvasAgg(fig)
        self.fig = fig
        fig.set_dpi(dpi)
        if fig.get_layout_engine() is not None:
            fig.get_layout_engine().execute(fig)  # the layout engine places every axes once (as draw() would)...
        fig.set_layout_engine("none")  # ...and every later frame keeps them there
        dynamic = list(dynamic)
        inside = dict.fromkeys(a.axes for a in dynamic if isinstance(a, (AxesImage, Patch, Line2D)) and a.axes)
        dynamic += [s for ax in inside for s in ax.spines.values()]  # drawn over images and bars: redrawn too
        order = {ax: i for i, ax in enumerate(fig.axes)}  # matplotlib's order: axes by axes, zorder within
        self.dynamic = sorted(dict.fromkeys(dynamic), key=lambda a: (order.get(a.axes, len(order)), a.get_zorder()))
        for a in self.dynamic:
            a.set_animated(True)  # left out of canvas.draw(): the background holds only what never changes
        self.stamps = TextStamps(dpi)
        self.ticks = [YTicks(cb.ax.yaxis, self.stamps, cb) for cb in colorbars]
        self.ticks += [YTicks(axis, self.stamps) for axis in y_axes]
        self._background = None
        self._samplers: dict = {}  # (image, data shape) -> where and how to paint it, or None: matplotlib draws

    def _sampler(self, im: AxesImage, shape: tuple[int, ...]) -> tuple | None:
        """(rows, cols, row index, col index) painting `im` as Agg does when it upsamples >= 3x (nearest);
        None when matplotlib must draw it (smoothed downsampling, rotations, other interpolations)."""
        key = (id(im), shape)
        if key not in self._samplers:
            self._samplers[key] = None
            h, w = shape[:2]
            left, right, bottom, top = im.get_extent()
            (x0, y0), (x1, y1) = im.axes.transData.transform([(left, bottom), (right, top)])  # display corners
            clip = im.axes.bbox
            if (im.get_interpolation() in ("auto", "antialiased", "nearest") and im.get_transform() == im.axes.transData
                    and abs(x1 - x0) >= 3 * w and abs(y1 - y0) >= 3 * h and im.origin == "upper"):
                xa, xb = max(min(x0, x1), clip.x0), min(max(x0, x1), clip.x1)
                ya, yb = max(min(y0, y1), clip.y0), min(max(y0, y1), clip.y1)
                cols = np.arange(np.floor(xa + 0.5), np.floor(xb + 0.5 + 1e-8)).astype(int)  # rounded as Agg
                ys = np.arange(np.ceil(ya - 0.5 - 1e-8), np.ceil(yb - 0.5)).astype(int)  # display rows, upwards
                j = np.clip(np.floor((cols + 0.5 - x0) / (x1 - x0) * w), 0, w - 1).astype(int)
                i = np.clip(np.floor((y1 - ys - 0.5) / (y1 - y0) * h), 0, h - 1).astype(int)  # row 0 at `top`
                height = self.fig.canvas.get_renderer().height
                rows = (height - 1 - ys)[::-1]  # display rows (up) -> buffer rows (down)
                self._samplers[key] = (rows, cols, i[::-1], j)
        return self._samplers[key]

    def _paint_image(self, px: np.ndarray, im: AxesImage) -> bool:
        """Colour-map `im`'s data and paint it with nearest sampling; False when matplotlib must draw it."""
        data = im.get_array()
        where = self._sampler(im, data.shape)
        if where is None:
            return False
        rows, cols, i, j = where
        rgba = im.to_rgba(data, bytes=True, alpha=im.get_alpha())[i][:, j]  # (h,w,4) -> (rows, cols, 4)
        region = px[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        if im.get_alpha() is None:
            region[..., :3] = rgba[..., :3]
        else:  # laid over what is below (e.g. a CAM over its image); Agg's own rounding differs by <= 1 level
            a = rgba[..., 3:].astype(np.uint16)
            region[..., :3] = (rgba[..., :3] * a + region[..., :3] * (255 - a)) // 255
        return True

    def frame(self) -> np.ndarray:
        """Draw the current state; returns its pixels (H,W,4), a writable view (paint cell values on it)."""
        canvas = self.fig.canvas
        if self._background is None:
            canvas.draw()
            for ticks in self.ticks:  # an axis label stays put while its ticks change
                ticks.axis.label.draw(canvas.get_renderer())
            self._background = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        px = pixels(self.fig)
        for a in self.dynamic:
            if not a.get_visible():
                continue
            if isinstance(a, Text) and "\n" not in a.get_text() and a.get_rotation() == 0:  # a title: stamped
                x, y = a.get_transform().transform(a.get_position())
                self.stamps.paint(px, x, y, a.get_text(), a.get_fontproperties(), a.get_color(), a.get_ha(),
                                  a.get_va())
            elif not (isinstance(a, AxesImage) and self._paint_image(px, a)):
                a.draw(renderer)
        for ticks in self.ticks:
            ticks.paint(px, renderer)
        return px

    def cell_values(self, ax: Axes, a: np.ndarray, fmt: str, lo: float, hi: float, fontsize: float = 6) -> None:
        """Write each value of the map `a` shown in `ax` in its cell, as `viz.single_map(annotate=True)` does."""
        px, prop = pixels(self.fig), FontProperties(size=fontsize)
        mid = (lo + hi) / 2
        centres = ax.transData.transform(np.stack(np.meshgrid(np.arange(a.shape[1]), np.arange(a.shape[0])), -1)
                                         .reshape(-1, 2))  # (h*w, 2) display points of the cell centres
        for (x, y), v in zip(centres, a.reshape(-1)):
            self.stamps.paint(px, x, y, fmt.format(v), prop, "black" if v > mid else "white")

    def png(self) -> bytes:
        """The frame drawn last, as PNG bytes."""
        return encode_png(pixels(self.fig))

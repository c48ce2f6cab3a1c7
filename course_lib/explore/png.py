"""PNG bytes fast: a lossless encoder for figure pixels, a figure drawn to PNG, and a small LRU cache
(used by fast_render's LiveFigure and the explorers' frame caches)."""
from __future__ import annotations

import struct
import threading
import zlib
from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 80  # the resolution of viz.to_png: a live frame has the size of the figure it replaces
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def encode_png(pixels: np.ndarray) -> bytes:
    """(H,W,3) RGB or (H,W,4) RGBA uint8 pixels -> PNG bytes: lossless, zlib level 1 after the 'up' filter."""
    h, w, c = pixels.shape
    rows = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(h, w * c)  # (H,W,C) -> (H,W*C), a scanline a row
    raw = np.empty((h, 1 + w * c), np.uint8)  # each scanline: a filter-type byte, then its W*C bytes
    raw[:, 0] = 2  # filter type 2, "up": each byte minus the byte above it (mod 256); figures repeat rows a lot
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, {3: 2, 4: 6}[c], 0, 0, 0)  # 8 bits, colour type RGB or RGBA
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + _chunk(b"IEND", b""))


def pixels(fig: Figure) -> np.ndarray:
    """The figure's last drawn pixels (H,W,4) RGBA uint8: a writable view of its Agg buffer."""
    return np.asarray(fig.canvas.buffer_rgba())


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    """`fig` drawn as `viz.to_png(fig, dpi)` draws it (the same pixels), encoded by `encode_png`."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    fig.canvas.draw()
    return encode_png(pixels(fig))  # RGBA as savefig writes it: contiguous, so no copy (alpha compresses to ~0)


class LRU:
    """A bounded mapping, safe to share with a background thread: the least recently used entry leaves first."""

    def __init__(self, size: int):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any] | None = None) -> Any:
        """The value for `key` (now the most recent); if missing, `make()` stored (called outside the lock) or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        if make is None:
            return None
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def values(self) -> list[Any]:
        """The values, least recently used first."""
        with self._lock:
            return list(self._items.values())

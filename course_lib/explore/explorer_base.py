"""The explorers' common part: `View` (what one setting of the sliders shows), the `Explorer` base class
(PNG cache, LiveFigure frames, background pre-rendering) and the slider helpers. The explorers themselves
are in widgets.py (SampleExplorer, FeatureMapExplorer, CamExplorer), batch_stepper.py and patch_explorer.py.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from ..data import DatasetSpec, denormalize
from . import fast_render


@dataclass
class View:
    """What an explorer displays for one setting of its sliders."""

    setting: dict[str, Any]  # slider name -> value
    data: torch.Tensor  # the tensor drawn (a feature map, a CAM, an image...)
    title: str
    info: dict[str, Any] = field(default_factory=dict)
    png: bytes = b""  # the figure as PNG bytes (what the Image widget holds)


PNG_CACHE_SIZE = 256  # PNGs kept per explorer (20-40 kB each), least recently shown dropped first
LIVE_LAYOUTS = 16  # LiveFigures kept per explorer (one per layout, e.g. per layer of a feature-map explorer)


def view_key(view: View) -> tuple:
    return tuple(view.setting.items())


class Explorer:
    """Base class: named controls, an HTML caption and an Image widget redrawn on every change."""

    def __init__(self, controls: dict[str, W.ValueWidget], image_width: str = "760px"):
        self.controls = controls
        self.image = W.Image(format="png", layout=W.Layout(width=image_width))
        self.caption = W.HTML()
        self.widget = W.VBox([W.HBox(list(controls.values())), self.caption, self.image])
        self.image.add_class("course-explorer-image")  # CSS hooks for browser tests
        self.widget.add_class(f"course-{type(self).__name__}")
        self.defaults = {k: c.value for k, c in controls.items()}
        self.last: View | None = None
        self._syncing = False
        self._pngs = fast_render.LRU(PNG_CACHE_SIZE)  # setting -> PNG bytes (the background thread adds too)
        self._live = fast_render.LRU(LIVE_LAYOUTS)  # layout -> LiveFigure
        self._ahead: threading.Thread | None = None
        for c in controls.values():
            c.observe(self._on_change, names="value")

    # subclasses implement these two
    def view(self, **setting) -> View:
        raise NotImplementedError

    def figure(self, view: View) -> Figure:
        raise NotImplementedError

    def _on_change(self, change) -> None:
        if not self._syncing:
            self.show(**{k: c.value for k, c in self.controls.items()})

    def _sync_controls(self, setting: dict[str, Any]) -> None:
        """Move the sliders to `setting` without triggering redraws."""
        self._syncing = True
        try:
            for k, v in setting.items():
                self.controls[k].value = v
        finally:
            self._syncing = False

    def show(self, **setting) -> View:
        """Display `setting` (missing names keep their current value) and return what is shown."""
        full = {k: c.value for k, c in self.controls.items()} | setting
        view = self.view(**full)
        self._sync_controls(view.setting)
        view.png = self._pngs.get(view_key(view), lambda: self._draw_png(view))
        self.image.value = view.png
        self.caption.value = f"<b>{view.title}</b>"
        self.last = view
        self._run_ahead(self._jobs_ahead(view))
        return view

    def _draw_png(self, view: View) -> bytes:
        """The PNG of `view`; subclasses with a LiveFigure override this to redraw only what changed."""
        return fast_render.figure_png(self.figure(view))

    def _live_figure(self, layout: Hashable, build: Callable[[], fast_render.LiveFigure]) -> fast_render.LiveFigure:
        """The explorer's LiveFigure for `layout` (built by `build` on first use; the last few kept)."""
        return self._live.get(layout, build)

    def _jobs_ahead(self, view: View) -> list[Callable[[], object]]:
        """Work worth doing before it is asked for, in a background thread: each job builds its own Figure and
        only then stores it (a PNG, a LiveFigure) in a cache, so the thread never touches what a slider uses."""
        return []

    def _run_ahead(self, jobs: list[Callable[[], object]]) -> None:
        """Run `jobs` one after another in one daemon thread (none while one still runs); nothing waits for it."""
        if jobs and (self._ahead is None or not self._ahead.is_alive()):
            self._ahead = threading.Thread(target=lambda: [job() for job in jobs], daemon=True, name="explorer-ahead")
            self._ahead.start()

    def wait_ahead(self, timeout: float | None = None) -> bool:
        """Wait for the background thread (tests, benchmarks; a slider never waits); True if there was one."""
        if self._ahead is None:
            return False
        self._ahead.join(timeout)
        return True

    def static_figure(self, **setting) -> Figure:
        """The explorer's figure for the default setting (or `setting`), without widgets."""
        return self.figure(self.view(**(self.defaults | setting)))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.last is None:
            self.show()
        display(self.widget)


def int_slider(description: str, maximum: int, value: int = 0) -> W.IntSlider:
    return W.IntSlider(value=value, min=0, max=max(0, maximum), description=description,
                       continuous_update=False)


def class_slider(classes, description: str = "class") -> W.SelectionSlider:
    return W.SelectionSlider(options=[(f"{k}: {c}", k) for k, c in enumerate(classes)], value=0,
                             description=description, continuous_update=False,
                             layout=W.Layout(width="420px"))


def display_images(images: torch.Tensor, spec: DatasetSpec | None) -> torch.Tensor:
    """Normalized float images -> [0,1] for display (uint8 kept; no spec: each image min-max scaled)."""
    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        return x
    if spec is not None:
        return denormalize(x, spec)
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp(min=1e-8)

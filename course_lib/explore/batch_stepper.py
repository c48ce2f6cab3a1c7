"""Week 3's explorer: one batch walked through its life cycle, a chart per step."""
from __future__ import annotations

from typing import Callable

import ipywidgets as W
from matplotlib.figure import Figure

from ..data import DatasetSpec
from . import viz
from .explorer_base import Explorer, View, display_images, view_key


class BatchStepper(Explorer):
    """Week 3: walk one batch through to(device) -> forward -> error -> loss -> backward -> update -> argmax."""

    def __init__(self, cycle, classes: tuple[str, ...], spec: DatasetSpec | None = None, rows: int = 16):
        self.cycle, self.classes, self.rows = cycle, classes, rows
        self.images = display_images(cycle.X, spec)
        step = W.SelectionSlider(options=[(f"{i + 1}. {s.name}", i) for i, s in enumerate(cycle.steps)],
                                 value=0, description="step", continuous_update=False,
                                 layout=W.Layout(width="480px"))
        super().__init__({"step": step})

    def view(self, **s) -> View:
        i = int(s["step"])
        rec = self.cycle.steps[i]
        first = next(iter(rec.tensors.values()))
        return View({"step": i}, first, f"{i + 1}. {rec.name}: {rec.formula}<br>" + "<br>".join(rec.lines),
                    {"record": rec})

    def _jobs_ahead(self, view: View) -> list[Callable[[], object]]:
        """Every step not drawn yet: seven different charts (nothing to redraw in place), drawn once one is shown."""
        views = [v for v in (self.view(step=i) for i in range(len(self.cycle.steps))) if view_key(v) not in self._pngs]
        return [lambda v=v: self._pngs.get(view_key(v), lambda: self._draw_png(v)) for v in views]

    def figure(self, view: View) -> Figure:
        rec, n, c = view.info["record"], self.rows, self.cycle
        names = [f"{i}: {self.classes[int(y)]}" for i, y in enumerate(c.y_actual[:n])]
        if rec.name == "to(device)":
            return viz.image_grid(self.images[:n], c.y_actual[:n], self.classes, title=f"X {tuple(c.X.shape)}")
        if rec.name == "forward":
            return viz.heatmap(rec.tensors["y_out"][:n], "y_out: class scores (logits), first rows",
                               "class", "image: actual class", self.classes, names)
        if rec.name == "error":
            return viz.heatmap(rec.tensors["error"][:n], "error = softmax(y_out) - onehot(y_actual)",
                               "class", "image: actual class", self.classes, names)
        if rec.name == "loss":
            losses = rec.tensors["per_sample_loss"]
            worst = c.worst(2 * n).tolist()
            return viz.bar_chart({f"#{i}": float(losses[i]) for i in worst},
                                 f"the {len(worst)} largest per-image losses (E = mean of all {len(losses)} "
                                 f"= {losses.mean():.3f})", "cross-entropy", fmt="{:.1f}", rotate=90)
        if rec.name in ("backward", "update"):
            key = "gradient" if rec.name == "backward" else "change"
            vals = {k.replace("backbone.layers.", "").replace(".0.", ".conv.").replace(".1.", ".bn."):
                    float(t.norm()) for k, t in rec.tensors.items() if k != "dE/dy_out"}
            return viz.bar_chart(vals, f"size (L2 norm) of each {key} tensor", f"||{key}||", logy=True,
                                 fmt="{:.1e}", rotate=60)
        return viz.image_grid(self.images[:n], c.y_actual[:n], self.classes, rec.tensors["y_pred"][:n],
                              title="argmax of y_out (red = wrong)")

    def worst_figure(self, k: int = 8) -> Figure:
        """The k images of the batch with the largest loss (the ones that hurt most)."""
        idx = self.cycle.worst(k)
        notes = [f"loss {self.cycle.per_sample_loss[i]:.2f}" for i in idx]
        probs = self.cycle.steps[2].tensors["probs"]
        return viz.image_grid(self.images[idx], self.cycle.y_actual[idx], self.classes, probs[idx].argmax(1),
                              notes=notes, title=f"the {k} images that hurt most")

"""ipywidgets explorers built on viz.py: compute once, then sliders only index cached tensors.

Every explorer (the base class is in explorer_base.py; BatchStepper in batch_stepper.py) has
    .widget           the ipywidgets box (sliders with descriptions + an Image holding PNG bytes)
    .show(**setting)  a plain function (tests call it): sets the sliders, draws, returns a `View`
    .static_figure()  the same figure for the default setting, for notebooks read without a kernel
Sliders use `continuous_update=False`, so a figure is drawn once, when the slider is released.
A setting drawn before comes from a bounded PNG cache; a new one is a `fast_render.LiveFigure` frame (the
explorer's figure redraws only what the slider changed: a few ms). What a frame cannot reuse is prepared in
one background thread once the explorer is shown: the batch stepper's seven charts, the feature-map
explorer's figure per map size. Subclasses give `view` and `figure` (the static figure), and may override
`_draw_png` (a LiveFigure frame) and `_jobs_ahead`.
"""
from __future__ import annotations

from typing import Callable

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle

from ..data import DatasetSpec, normalize
from ..models import GapFc, receptive_fields
from . import fast_render, viz
from .batch_stepper import BatchStepper
from .explorer_base import PNG_CACHE_SIZE, Explorer, View, class_slider, display_images, int_slider

__all__ = ["PNG_CACHE_SIZE", "BatchStepper", "CamExplorer", "Explorer", "FeatureMapExplorer", "SampleExplorer", "View",
           "class_activation_maps"]


class SampleExplorer(Explorer):
    """Week 1: pick a class and an example; see the image, its numbers and its normalized values."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec, per_class: int = 50,
                 crop: int = 10):
        self.images, self.labels, self.spec, self.crop = images, labels, spec, crop
        self.index = {k: (labels == k).nonzero().flatten()[:per_class] for k in range(spec.num_classes)}
        most = max(len(v) for v in self.index.values())
        # histogram bins over every possible normalized value (an image with a 0 and a 255 pixel spans them all)
        ends = normalize(torch.tensor([0, 255], dtype=torch.uint8).repeat(1, len(spec.mean), 1, 1), spec)  # (1,C,1,2)
        self.bins = np.linspace(float(ends.min()), float(ends.max()), 31)
        super().__init__({"class": class_slider(spec.classes), "example": int_slider("example", most - 1)})

    def view(self, **s) -> View:
        k = int(s["class"])
        i = int(self.index[k][min(int(s["example"]), len(self.index[k]) - 1)])
        img = self.images[i]  # uint8 (C,H,W)
        x = normalize(img[None], self.spec)[0]
        return View({"class": k, "example": int(s["example"])}, img,
                    f"{self.spec.name} #{i}: class {k} ({self.spec.classes[k]}), tensor {tuple(img.shape)} "
                    f"{img.dtype}, normalized mean {x.mean():.2f} std {x.std():.2f}",
                    {"dataset_index": i, "normalized": x})

    def _parts(self, view: View) -> tuple[str, torch.Tensor]:
        """(image title, the uint8 crop in the red box (c,c) of channel 0)."""
        img, c = view.data, self.crop
        top, left = (img.shape[1] - c) // 2, (img.shape[2] - c) // 2
        return (f"{self.spec.classes[view.setting['class']]} (index {view.info['dataset_index']})",
                img[0, top:top + c, left:left + c].float())

    def figure(self, view: View) -> Figure:
        img, c = view.data, self.crop
        h, w = img.shape[1:]
        top, left = (h - c) // 2, (w - c) // 2
        title, crop = self._parts(view)
        fig = viz.new_figure(11, 3.6)
        ax_img, ax_num, ax_hist = fig.subplots(1, 3)
        viz.show_image(ax_img, img, title)
        ax_img.add_patch(Rectangle((left - 0.5, top - 0.5), c, c, fill=False, color="red"))
        viz.single_map(crop, f"uint8 values in the red {c}x{c} box (channel 0)", ax=ax_num, cmap="gray",
                       annotate=True, colorbar=False, vmin=0, vmax=255, fmt="{:.0f}")
        ax_hist.hist(view.info["normalized"].flatten().numpy(), bins=self.bins, color="tab:blue")
        ax_hist.set(xlabel="normalized value (x/255 - mean) / std", ylabel="pixels")
        ax_hist.set_title("histogram of the normalized image", fontsize=9)
        return fig

    def _draw_png(self, view: View) -> bytes:
        live = self._live_figure(None, lambda: self._live_figure_of(view))
        ax_img, ax_num, ax_hist = live.fig.axes
        title, crop = self._parts(view)
        ax_img.images[0].set_data(viz.as_numpy_image(view.data))
        ax_img.title.set_text(title)
        ax_num.images[0].set_data(crop.numpy())
        counts, _ = np.histogram(view.info["normalized"].numpy(), self.bins)
        ax_hist.patches[-1].set_path(fast_render.bars_path(self.bins, counts))  # the bars, as one path
        ax_hist.set_ylim(0, 1.05 * counts.max())  # as hist autoscales: 5 % margin above the fullest bin
        live.frame()
        live.cell_values(ax_num, crop.numpy(), "{:.0f}", 0, 255)
        return live.png()

    def _live_figure_of(self, view: View) -> fast_render.LiveFigure:
        fig = self.figure(view)
        ax_img, ax_num, ax_hist = fig.axes
        for a in [*ax_num.texts, *ax_hist.patches]:  # values painted by LiveFigure.cell_values; bars: one path
            a.set_visible(False)
        bar = ax_hist.patches[0]
        ax_hist.add_patch(PathPatch(fast_render.bars_path(self.bins, np.zeros(len(self.bins) - 1)),
                                    facecolor=bar.get_facecolor(), edgecolor="none", zorder=bar.get_zorder()))
        return fast_render.LiveFigure(fig, [*ax_img.images, *ax_img.patches, ax_img.title, *ax_num.images,
                                            ax_hist.patches[-1]], y_axes=[ax_hist.yaxis])


class FeatureMapExplorer(Explorer):
    """Week 4: the output of every layer of a backbone, one (layer, channel, image) at a time."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor | None = None,
                 spec: DatasetSpec | None = None):
        backbone = getattr(model, "backbone", model)
        device = next(backbone.parameters()).device
        was_training = backbone.training
        backbone.eval()
        with torch.no_grad():  # computed once: the sliders only index these tensors
            self.maps = {k: v.cpu() for k, v in backbone.feature_maps(images.to(device)).items()}
        backbone.train(was_training)
        self.rf = {name: (rf, jump) for name, rf, jump in receptive_fields(backbone)}
        self.images, self.labels, self.spec = display_images(images, spec), labels, spec
        layer = W.SelectionSlider(options=list(self.maps), value=next(iter(self.maps)), description="layer",
                                  continuous_update=False, layout=W.Layout(width="360px"))
        super().__init__({"layer": layer, "channel": int_slider("channel", self.maps[layer.value].shape[1] - 1),
                          "image": int_slider("image", len(images) - 1)})

    def _sync_controls(self, setting):
        self.controls["channel"].max = self.maps[setting["layer"]].shape[1] - 1  # before the value
        super()._sync_controls(setting)

    def view(self, **s) -> View:
        layer = s["layer"]
        if layer not in self.maps:
            raise KeyError(f"unknown layer {layer!r}; layers: {', '.join(self.maps)}")
        channel = min(int(s["channel"]), self.maps[layer].shape[1] - 1)
        image = int(s["image"])
        m = self.maps[layer][image, channel]
        rf, jump = self.rf[layer]
        i, j = divmod(int(m.argmax()), m.shape[1])
        return View({"layer": layer, "channel": channel, "image": image}, m,
                    f"{layer}: channel {channel} of {self.maps[layer].shape[1]}, map {tuple(m.shape)}, "
                    f"receptive field {rf}x{rf} px (jump {jump}), image {image}",
                    {"rf": rf, "jump": jump, "argmax": (i, j)})

    def _parts(self, view: View) -> tuple[str, tuple[float, float, float, float]]:
        """(image title, the red box (x, y, width, height) in input pixels)."""
        s, (i, j) = view.setting, view.info["argmax"]
        rf, jump = view.info["rf"], view.info["jump"]
        label = "" if self.labels is None else f"label {self._name(int(self.labels[s['image']]))}, "
        cy, cx = i * jump + (jump - 1) / 2, j * jump + (jump - 1) / 2  # centre of unit (i,j) in input pixels
        return (f"image {s['image']}: {label}red box = what the strongest unit sees ({rf}x{rf})",
                (cx - rf / 2, cy - rf / 2, rf, rf))

    def figure(self, view: View) -> Figure:
        s, (i, j) = view.setting, view.info["argmax"]
        title, (x, y, w, h) = self._parts(view)
        fig = viz.new_figure(10, 4)
        ax_img, ax_map = fig.subplots(1, 2)
        viz.show_image(ax_img, self.images[s["image"]], title)
        ax_img.add_patch(Rectangle((x, y), w, h, fill=False, color="red", lw=2))
        viz.single_map(view.data, f"{s['layer']} channel {s['channel']}", ax=ax_map)
        ax_map.plot(j, i, "r+", markersize=12)
        return fig

    def _draw_png(self, view: View) -> bytes:
        s, (i, j) = view.setting, view.info["argmax"]
        live = self._live_figure(self._layout(s["layer"]), lambda: self._live_figure_of(view))
        ax_img, ax_map = live.fig.axes[:2]
        title, box = self._parts(view)
        ax_img.images[0].set_data(viz.as_numpy_image(self.images[s["image"]]))
        ax_img.title.set_text(title)
        ax_img.patches[0].set_bounds(*box)
        m = view.data.float().numpy()
        ax_map.images[0].set_data(m)
        ax_map.images[0].set_clim(*fast_render.color_limits(m))
        ax_map.title.set_text(f"{s['layer']} channel {s['channel']}")
        ax_map.lines[0].set_data([j], [i])
        live.frame()
        return live.png()

    def _layout(self, layer: str) -> tuple[int, ...]:
        return tuple(self.maps[layer].shape[2:])  # (h, w): one LiveFigure per map size (ticks, axis labels)

    def _jobs_ahead(self, view: View) -> list[Callable[[], object]]:
        """A LiveFigure for every other map size (three for the MNIST net), built and drawn in the background."""
        first = {}
        for layer in self.maps:
            first.setdefault(self._layout(layer), layer)

        def prepare(v: View) -> fast_render.LiveFigure:
            live = self._live_figure_of(v)
            live.frame()  # its background drawn here, not on the slider's first visit
            return live

        views = [self.view(**(view.setting | {"layer": layer})) for size, layer in first.items()
                 if size not in self._live]
        return [lambda v=v: self._live.get(self._layout(v.setting["layer"]), lambda: prepare(v)) for v in views]

    def _live_figure_of(self, view: View) -> fast_render.LiveFigure:
        fig = self.figure(view)
        ax_img, ax_map = fig.axes[:2]
        return fast_render.LiveFigure(fig, [*ax_img.images, *ax_img.patches, ax_img.title, *ax_map.images,
                                            *ax_map.lines, ax_map.title], [ax_map.images[0].colorbar])

    def _name(self, k: int) -> str:
        return self.spec.classes[k] if self.spec else str(k)


def class_activation_maps(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(CAMs (N,K,h,w), logits (N,K)) of a model whose head pools then classifies (a GAP head)."""
    feats = model.forward_features(images)  # (N,C,h,w)
    head = model.head
    if hasattr(head, "class_maps"):  # conv1x1_gap: the 1x1 conv's output before pooling
        cams = head.class_maps(feats)
    elif isinstance(head, GapFc):  # the same maps from the Linear weights: W (K,C) applied at each pixel
        cams = torch.einsum("kc,nchw->nkhw", head.fc.weight, feats) + head.fc.bias.view(1, -1, 1, 1)
    else:
        raise ValueError(f"class activation maps need a GAP head (gap_fc or conv1x1_gap), not "
                         f"{getattr(head, 'name', type(head).__name__)!r}: a flatten head has no per-class map")
    return cams, head(feats)


class CamExplorer(Explorer):
    """Week 5: the per-class map before global average pooling, for any class and image."""

    def __init__(self, model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec):
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():  # computed once
            cams, logits = class_activation_maps(model, images.to(device))
        model.train(was_training)
        self.cams, self.logits = cams.cpu(), logits.cpu()
        self.probs = self.logits.softmax(1)
        self.images, self.labels, self.spec = display_images(images, spec), labels.cpu(), spec
        super().__init__({"class": class_slider(spec.classes), "image": int_slider("image", len(images) - 1)})

    def view(self, **s) -> View:
        k, i = int(s["class"]), int(s["image"])
        y, pred = int(self.labels[i]), int(self.logits[i].argmax())
        names = self.spec.classes
        return View({"class": k, "image": i}, self.cams[i, k],
                    f"image {i}: true {names[y]}, predicted {names[pred]} ({self.probs[i, pred]:.0%}); "
                    f"map of class {names[k]}: mean {self.cams[i, k].mean():.2f} = logit {self.logits[i, k]:.2f}",
                    {"logit": float(self.logits[i, k]), "true": y, "pred": pred})

    def figure(self, view: View) -> Figure:
        k, i = view.setting["class"], view.setting["image"]
        return viz.cam_overlay(self.images[i], view.data, view.title, self.spec.classes[k], view.info["logit"])

    def _draw_png(self, view: View) -> bytes:
        k, i = view.setting["class"], view.setting["image"]
        live = self._live_figure(tuple(view.data.shape), lambda: self._live_figure_of(view))
        ax_img, ax_cam, ax_over = live.fig.axes[:3]
        img = viz.as_numpy_image(self.images[i])
        cam = view.data.float().numpy()
        big = viz.upsample_map(view.data.detach().cpu(), img.shape[:2]).numpy()
        ax_img.images[0].set_data(img)
        ax_cam.images[0].set_data(cam)
        ax_cam.images[0].set_clim(*fast_render.color_limits(cam))
        ax_cam.title.set_text(f"CAM of {self.spec.classes[k]!r} {tuple(cam.shape)}")  # viz.cam_overlay's titles
        ax_over.images[0].set_data(img)
        ax_over.images[1].set_data(big)
        ax_over.images[1].set_clim(big.min(), big.max())
        ax_over.title.set_text(f"overlay; mean = logit = {view.info['logit']:.2f}")
        live.fig.texts[0].set_text(view.title)  # the suptitle
        live.frame()
        live.cell_values(ax_cam, cam, "{:.1f}", float(cam.min()), float(cam.max()))
        return live.png()

    def _live_figure_of(self, view: View) -> fast_render.LiveFigure:
        fig = self.figure(view)
        ax_img, ax_cam, ax_over = fig.axes[:3]
        for t in ax_cam.texts:  # the values are painted per frame by LiveFigure.cell_values
            t.set_visible(False)
        return fast_render.LiveFigure(fig, [*ax_img.images, *ax_cam.images, ax_cam.title, *ax_over.images,
                                            ax_over.title, fig.texts[0]], [ax_cam.images[0].colorbar])

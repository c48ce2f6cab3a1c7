"""The explorers driven programmatically: move sliders, call callbacks, compare with course_lib directly."""
from __future__ import annotations

import copy
import io

import ipywidgets as W
import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from course_lib import data, models, training
from course_lib.explore import fast_render, viz, widgets
from course_lib.training import lifecycle

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPEC = data.get_spec("mnist")


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(0)
    return torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 5])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = models.build_model("mnist", "conv1x1_gap")
    m.train()  # explorers must work from eval mode whatever the caller's mode, and restore it
    return m


def assert_slider_contract(explorer):
    assert isinstance(explorer.widget, W.Box) and explorer.image in explorer.widget.children
    for name, control in explorer.controls.items():
        assert control.description == name  # browser tests find sliders by their description
        assert control.continuous_update is False


# ------------------------------------------------------------------ feature maps

def test_feature_map_explorer_shows_the_backbones_maps(model, images):
    X, y = images
    ex = widgets.FeatureMapExplorer(model, X, y, SPEC)
    assert model.training  # mode restored
    assert_slider_contract(ex)
    model.eval()
    with torch.no_grad():
        expected = model.backbone.feature_maps(X)
    model.train()
    assert list(ex.maps) == list(expected)
    for layer, channel, image in [("conv1_1", 0, 0), ("conv2_2", 7, 3), ("pool2", 11, 5), ("conv3_3", 15, 1)]:
        view = ex.show(layer=layer, channel=channel, image=image)
        assert torch.allclose(view.data, expected[layer][image, channel])
        assert view.setting == {"layer": layer, "channel": channel, "image": image}
        assert [ex.controls[k].value for k in ("layer", "channel", "image")] == [layer, channel, image]
        assert ex.image.value == view.png and view.png.startswith(PNG_MAGIC)
        rf = dict((n, r) for n, r, _ in models.receptive_fields(model.backbone))[layer]
        assert view.info["rf"] == rf and f"receptive field {rf}x{rf}" in view.title


def test_moving_feature_map_sliders_redraws_the_right_map(model, images):
    X, _ = images
    ex = widgets.FeatureMapExplorer(model, X)
    first = ex.show(layer="conv3_1", channel=15, image=0).png
    ex.controls["layer"].value = "conv1_1"  # 8 channels: the channel slider shrinks and clamps
    assert ex.controls["channel"].max == ex.maps["conv1_1"].shape[1] - 1 == 7
    assert ex.last.setting == {"layer": "conv1_1", "channel": 7, "image": 0}
    assert torch.equal(ex.last.data, ex.maps["conv1_1"][0, 7]) and ex.image.value != first
    ex.controls["channel"].value = 2
    assert torch.equal(ex.last.data, ex.maps["conv1_1"][0, 2])
    before = ex.image.value
    ex.controls["image"].value = 4
    assert torch.equal(ex.last.data, ex.maps["conv1_1"][4, 2]) and ex.image.value != before
    with pytest.raises(KeyError, match="unknown layer"):
        ex.show(layer="conv9_9")


def test_static_fallback_is_the_default_view(model, images):
    ex = widgets.FeatureMapExplorer(model, images[0])
    fig = ex.static_figure()
    assert isinstance(fig, Figure)
    static, shown = decode(viz.to_png(fig)), decode(ex.show(**ex.defaults).png)
    assert static.shape == shown.shape
    differ = np.abs(static - shown).max(-1) > 64
    assert differ.mean() < 0.01, "the same picture: only the colour bar's stamped labels are shaded differently"


# ------------------------------------------- fast frames: the same picture as the static figure

def decode(png: bytes) -> np.ndarray:
    """PNG bytes -> (H,W,3) int array, by PIL (an independent decoder)."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def colour_mapped(a, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """(h,w) values -> (h,w,3) uint8 colours, as imshow maps them."""
    return matplotlib.colormaps[cmap](Normalize(vmin, vmax)(np.asarray(a, float)), bytes=True)[..., :3]


def boxes(ex, setting) -> list:
    """Pixel boxes (display coordinates, y up) of the axes of `setting`'s static figure drawn at the PNG's dpi:
    the layout a LiveFigure keeps when it is built from that setting."""
    fig = ex.static_figure(**setting)
    fast_render.figure_png(fig)
    return [ax.get_window_extent() for ax in fig.axes], fig


def assert_cells_show(px: np.ndarray, box, rgb: np.ndarray, skip=()) -> None:
    """Each cell (i,j) of the colour-mapped map `rgb` (h,w,3) fills its share of `box`: a 3x3 block just inside
    its top-left corner (clear of the values written at its centre) has exactly its colour."""
    h, w = rgb.shape[:2]
    for i in range(h):
        for j in range(w):
            if (i, j) in skip:
                continue
            top = px.shape[0] - (box.y1 - i * box.height / h)  # rows count down from the top
            r, c = int(np.ceil(top)) + 2, int(np.ceil(box.x0 + j * box.width / w)) + 2
            assert (px[r:r + 3, c:c + 3] == rgb[i, j]).all(), f"cell {(i, j)}: {px[r, c]} != {rgb[i, j]}"


def red_box(px: np.ndarray, box) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) display extent of the red pixels inside `box`."""
    top = px.shape[0] - box.y1
    area = px[int(top):int(top + box.height), int(box.x0):int(box.x1)]
    rows, cols = np.nonzero((area[..., 0] > 200) & (area[..., 1] < 80) & (area[..., 2] < 80))
    assert len(rows), "no red box"
    return (cols.min() + int(box.x0), cols.max() + 1 + int(box.x0),
            px.shape[0] - (rows.max() + 1 + int(top)), px.shape[0] - (rows.min() + int(top)))


def test_feature_map_frames_show_the_colour_mapped_map_and_the_red_box(model, images):
    X, y = images
    ex = widgets.FeatureMapExplorer(model, X, y, SPEC)
    first = {"layer": "conv1_2", "channel": 2, "image": 0}
    (box_img, box_map, _), static = boxes(ex, first)
    ex.show(**first)
    for setting in [{"image": 3}, {"channel": 5, "image": 4}, {"image": 1}]:  # never drawn, same layer
        view = ex.show(**setting)
        px = decode(view.png)
        m = view.data.numpy()
        (i, j), rf, jump = view.info["argmax"], view.info["rf"], view.info["jump"]
        near = {(i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)}  # under the red + marker
        assert_cells_show(px, box_map, colour_mapped(m, "viridis", *fast_render.color_limits(m)), skip=near)
        image = viz.as_numpy_image(ex.images[view.setting["image"]])
        assert_cells_show(px, box_img, colour_mapped(image, "gray", 0, 1))
        cx, cy = j * jump + (jump - 1) / 2, i * jump + (jump - 1) / 2  # the unit's centre in input pixels
        corners = [(cx - rf / 2, cy + rf / 2), (cx + rf / 2, cy - rf / 2)]  # (left, bottom), (right, top)
        (x0, y0), (x1, y1) = static.axes[0].transData.transform(corners)
        expected = (max(x0, box_img.x0), min(x1, box_img.x1), max(y0, box_img.y0), min(y1, box_img.y1))
        assert np.allclose(red_box(px, box_img), expected, atol=2.5), (red_box(px, box_img), expected)


def test_feature_map_layouts_are_prepared_ahead_and_shared_by_layers_of_one_size(model, images):
    X, y = images
    ex = widgets.FeatureMapExplorer(model, X, y, SPEC)
    first = {"layer": "conv1_1", "channel": 1, "image": 2}
    ex.show(**first)
    assert ex.wait_ahead(timeout=120)  # a thread built the other map sizes' LiveFigures
    prepared = ex._live.values()  # internal: one LiveFigure per map size, the 7x7 one built from pool2
    assert len(prepared) == len({tuple(m.shape[2:]) for m in ex.maps.values()}) == 3
    (_, box_map, _), _ = boxes(ex, first | {"layer": "pool2"})
    view = ex.show(layer="conv3_2", channel=9, image=5)  # another 7x7 layer, never drawn
    assert {id(live) for live in ex._live.values()} == {id(live) for live in prepared}  # no new figure
    m = view.data.numpy()
    (i, j) = view.info["argmax"]
    near = {(i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)}
    assert_cells_show(decode(view.png), box_map, colour_mapped(m, "viridis", *fast_render.color_limits(m)), skip=near)
    (live,) = [live for live in prepared if live.fig.axes[1].images[0].get_array().shape == (7, 7)]
    assert live.fig.axes[1].get_title() == "conv3_2 channel 9"


def test_sample_frames_show_the_image_its_numbers_box_and_histogram():
    torch.manual_seed(0)
    imgs = torch.randint(0, 256, (60, 1, 28, 28), dtype=torch.uint8)
    ex = widgets.SampleExplorer(imgs, torch.arange(60) % 10, SPEC)
    (box_img, box_num, box_hist), static = boxes(ex, ex.defaults)
    ex.show()
    view = ex.show(**{"class": 4, "example": 2})
    px = decode(view.png)
    assert_cells_show(px, box_img, colour_mapped(view.data[0].numpy() / 255, "gray", 0, 1))
    assert_cells_show(px, box_num, colour_mapped(view.data[0, 9:19, 9:19].numpy(), "gray", 0, 255))
    (x0, y0), (x1, y1) = static.axes[0].transData.transform([(8.5, 18.5), (18.5, 8.5)])  # the 10x10 box
    assert np.allclose(red_box(px, box_img), (x0, x1, y0, y1), atol=2.5)
    counts, _ = np.histogram(view.info["normalized"].numpy(), ex.bins)
    ax_hist = static.axes[2]  # the default's histogram: same layout, its own count scale
    for k in np.argsort(counts)[-3:]:  # the three fullest bins reach their counts, on this image's scale
        ax_hist.set_ylim(0, 1.05 * counts.max())  # as hist autoscales
        (bx, by), = ax_hist.transData.transform([((ex.bins[k] + ex.bins[k + 1]) / 2, counts[k])])
        column = px[:, int(bx)]
        blue = np.nonzero((column[:, 2] > 150) & (column[:, 0] < 100))[0]
        assert abs((px.shape[0] - blue.min()) - by) <= 1.5
    assert ex.static_figure(**view.setting).axes[2].get_ylim() == pytest.approx((0, 1.05 * counts.max()))


def test_cam_frames_show_the_colour_mapped_map_and_the_same_titles(model, images):
    X, y = images
    ex = widgets.CamExplorer(model, X, y, SPEC)
    (_, box_cam, *_), _ = boxes(ex, ex.defaults)
    ex.show()
    for k, i in [(3, 2), (7, 5)]:
        view = ex.show(**{"class": k, "image": i})
        cam = view.data.numpy()
        cmap = ex.static_figure(**view.setting).axes[1].images[0].get_cmap().name
        assert_cells_show(decode(view.png), box_cam, colour_mapped(cam, cmap, *fast_render.color_limits(cam)))
        (live,) = ex._live.values()  # internal: the one LiveFigure, after this frame
        static = ex.static_figure(**view.setting)
        assert [a.get_title() for a in live.fig.axes] == [a.get_title() for a in static.axes]
        assert live.fig.texts[0].get_text() == static.texts[0].get_text() == view.title


def test_slider_callbacks_stay_plain_calls_and_the_stepper_draws_ahead(model, images):
    """show() returns the drawn PNG itself (no thread) except for the stepper, whose other steps a thread draws
    ahead: then every step is the PNG of its static figure, byte for byte."""
    X, y = images
    ex = widgets.CamExplorer(model, X, y, SPEC)
    ex.controls["image"].value = 4  # the slider's callback is show(): synchronous
    assert ex.last.setting["image"] == 4 and ex.image.value == ex.last.png and not ex.wait_ahead()
    cycle = lifecycle.record_life_cycle(model, images, lr=0.1, device=torch.device("cpu"))
    stepper = widgets.BatchStepper(cycle, SPEC.classes, SPEC)
    stepper.show(step=0)
    assert stepper.wait_ahead(timeout=120)
    for i in range(len(cycle.steps)):
        assert stepper.show(step=i).png == fast_render.figure_png(stepper.static_figure(step=i))


# --------------------------------------------------------------------------- CAMs

def test_cam_explorer_shows_class_maps_that_average_to_the_logits(model, images):
    X, y = images
    ex = widgets.CamExplorer(model, X, y, SPEC)
    assert_slider_contract(ex)
    model.eval()
    with torch.no_grad():
        maps = model.head.class_maps(model.forward_features(X))  # (N,10,7,7)
        logits = model(X)
    model.train()
    seen = set()
    for k, i in [(0, 0), (3, 0), (3, 4), (9, 5)]:
        view = ex.show(**{"class": k, "image": i})
        assert torch.allclose(view.data, maps[i, k], atol=1e-5)
        assert abs(view.data.mean().item() - logits[i, k].item()) < 1e-4
        assert ex.controls["class"].value == k and ex.controls["image"].value == i
        seen.add(view.png)
    assert len(seen) == 4  # every setting draws a different picture
    ex.controls["class"].value = 6  # moving the slider calls the same callback
    assert ex.last.setting["class"] == 6 and torch.allclose(ex.last.data, maps[ex.last.setting["image"], 6], atol=1e-5)
    assert isinstance(ex.static_figure(), Figure)


def test_cams_of_a_gap_fc_model_and_a_clear_error_for_flatten(images):
    X, _ = images
    torch.manual_seed(1)
    m = models.build_model("mnist", "gap_fc").eval()
    with torch.no_grad():
        cams, logits = widgets.class_activation_maps(m, X)
        assert torch.allclose(cams.mean((2, 3)), m(X), atol=1e-5) and torch.allclose(logits, m(X))
    with pytest.raises(ValueError, match="GAP head"):
        widgets.class_activation_maps(models.build_model("mnist", "flatten_fc"), X)


# ------------------------------------------------------------------------ samples

def test_sample_explorer_indexes_the_chosen_class():
    torch.manual_seed(0)
    imgs = torch.randint(0, 256, (60, 1, 28, 28), dtype=torch.uint8)
    labels = torch.arange(60) % 10
    ex = widgets.SampleExplorer(imgs, labels, SPEC)
    assert_slider_contract(ex)
    view = ex.show(**{"class": 7, "example": 3})
    i = view.info["dataset_index"]
    assert labels[i] == 7 and i == 37 and torch.equal(view.data, imgs[37])
    assert torch.allclose(view.info["normalized"], data.normalize(imgs[37:38], SPEC)[0])
    ex.controls["class"].value = 2
    assert ex.last.info["dataset_index"] == 32 and ex.image.value != view.png


# ------------------------------------------------------------------ batch stepper

def test_life_cycle_record_equals_train_step(model, images):
    X, y = images
    cycle = lifecycle.record_life_cycle(model, (X, y), lr=0.1, device=torch.device("cpu"))
    assert [s.name for s in cycle.steps] == list(lifecycle.STEPS)
    twin = copy.deepcopy(model)
    res = training.train_step(twin, (X, y), nn.CrossEntropyLoss(), torch.optim.SGD(twin.parameters(), lr=0.1),
                           torch.device("cpu"))
    after = dict(cycle.model_after.named_parameters())
    assert all(torch.allclose(p, after[n], atol=1e-6) for n, p in twin.named_parameters())
    assert abs(res.loss.item() - cycle.loss_before) < 1e-6
    error, dy = cycle.steps[2].tensors["error"], cycle.steps[4].tensors["dE/dy_out"]
    assert torch.allclose(dy, error / len(X), atol=1e-6)  # dE/dy_out = (softmax - onehot) / N
    grads, deltas = cycle.steps[4].tensors, cycle.steps[5].tensors
    assert all(torch.allclose(deltas[n], -0.1 * grads[n], atol=1e-6) for n in deltas)
    assert cycle.loss_after < cycle.loss_before
    assert torch.equal(cycle.worst(2), cycle.per_sample_loss.argsort(descending=True)[:2])
    original = dict(model.named_parameters())["head.conv.weight"]
    assert model.training and not torch.equal(original, after["head.conv.weight"])  # caller's model untouched


def test_batch_stepper_walks_every_step(model, images):
    cycle = lifecycle.record_life_cycle(model, images, lr=0.1, device=torch.device("cpu"))
    ex = widgets.BatchStepper(cycle, SPEC.classes, SPEC)
    assert_slider_contract(ex)
    pngs = []
    for i, name in enumerate(lifecycle.STEPS):
        view = ex.show(step=i)
        assert view.info["record"].name == name and name in view.title
        assert view.data is next(iter(cycle.steps[i].tensors.values()))
        pngs.append(view.png)
    assert len(set(pngs)) == len(lifecycle.STEPS)
    ex.controls["step"].value = 3
    assert ex.last.info["record"].name == "loss" and ex.image.value == pngs[3]
    assert isinstance(ex.worst_figure(3), Figure)


# ---------------------------------------------------------------------------- viz

def _hist():
    return training.History(epoch=[1, 2], train_loss=[1.0, 0.5], train_acc=[0.6, 0.8], test_loss=[0.9, 0.6],
                         test_acc=[0.7, 0.85], seconds=[1.0, 1.1])


VIZ_CALLS = {
    "image_grid": lambda: viz.image_grid(torch.rand(5, 1, 8, 8), [0, 1, 2, 3, 4], SPEC.classes, [0, 1, 2, 0, 0]),
    "image_grid_rgb_uint8": lambda: viz.image_grid(torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8)),
    "single_map": lambda: viz.single_map(torch.randn(7, 7), "a map", annotate=True),
    "map_row": lambda: viz.map_row({"img": torch.rand(3, 8, 8), "map": torch.randn(8, 8)}, "row"),
    "feature_map_grid": lambda: viz.feature_map_grid(torch.randn(10, 5, 5), highlight=3),
    "layer_overview": lambda: viz.layer_overview({"a": torch.randn(4, 8, 8), "b": torch.randn(8, 4, 4)},
                                                 torch.rand(1, 8, 8)),
    "cam_overlay": lambda: viz.cam_overlay(torch.rand(1, 28, 28), torch.randn(7, 7), "t", "3", 0.5),
    "training_curves": lambda: viz.training_curves({"run": _hist()}),
    "line_plot": lambda: viz.line_plot({"loss": [3, 2, 1]}, "t", "step", "loss", logy=True),
    "bar_chart": lambda: viz.bar_chart({"a": 1.0, "b": 2.0}, "t", "y", highlight=["a"]),
    "bar_chart_grouped": lambda: viz.bar_chart({"g1": {"a": 1, "b": 2}, "g2": {"a": 3}}, "t", "y", logy=True),
    "heatmap": lambda: viz.heatmap(torch.randn(4, 10), "t", "class", "image", list("0123456789"), list("abcd")),
}


@pytest.mark.parametrize("name", list(VIZ_CALLS))
def test_viz_functions_return_titled_figures(name):
    fig = VIZ_CALLS[name]()
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]
    assert any(titles), "every figure says what it shows"
    png = viz.to_png(fig)
    assert png.startswith(PNG_MAGIC) and fig._repr_png_().startswith(PNG_MAGIC)


def test_upsample_map_and_image_conversion():
    m = torch.arange(4.0).view(2, 2)
    big = viz.upsample_map(m, (8, 8))
    assert big.shape == (8, 8) and abs(big.mean().item() - m.mean().item()) < 1e-5
    assert viz.as_numpy_image(torch.full((1, 4, 4), 255, dtype=torch.uint8)).max() == 1.0
    assert viz.as_numpy_image(torch.rand(3, 4, 4)).shape == (4, 4, 3)

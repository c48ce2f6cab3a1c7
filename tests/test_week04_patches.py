"""Week 4: top-activating patches (course_lib.models.patches) and their explorer (course_lib.explore.patch_explorer).

The crop of every patch is the receptive field of the image's strongest unit (checked against
`models.receptive_fields` and against the gradient footprint), the ranking equals a brute-force search,
and the explorer's callbacks draw the cached patches of the chosen layer and channel."""
from __future__ import annotations

import copy
import math

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from course_lib import data, models
from course_lib.exercises import week04
from course_lib.explore import patch_explorer
from course_lib.models import patches

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained_like():
    """mnist_small with random weights and non-trivial BatchNorm statistics, and 48 random images."""
    torch.manual_seed(0)
    model = models.build_model("mnist", "gap_fc")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    images = torch.randn(48, 1, 28, 28)
    return model, images


def test_unit_offsets_follow_the_padding_arithmetic():
    backbone = models.make_backbone("mnist_small", 1)
    offsets = patches.unit_offsets(backbone)
    for name, rf, jump in models.receptive_fields(backbone):
        assert offsets[name] == (jump - 1) / 2, name  # 3x3 convs with padding 1 keep the centre; 2x2 pools shift it
    assert patches.receptive_box(0, 0, 40, 4, 1.5) == (-18, -18, 21, 21)
    with pytest.raises(ValueError, match="not pixel-aligned"):
        patches.receptive_box(0, 0, 4, 1, 0.0)


def test_crop_box_pads_outside_the_image_with_nan():
    image = torch.arange(16.).view(1, 4, 4)
    crop = patches.crop_box(image, -1, 2, 3)  # rows -1..1, columns 2..4
    assert crop.shape == (1, 3, 3)
    assert torch.isnan(crop[0, 0]).all() and torch.isnan(crop[0, :, 2]).all()
    assert torch.equal(crop[0, 1:, :2], image[0, 0:2, 2:4])


def test_patch_crop_is_the_receptive_field_of_the_strongest_unit(trained_like):
    model, images = trained_like
    top = patches.top_patches(model, images, k=4)
    rfs = {name: (rf, jump) for name, rf, jump in models.receptive_fields(model.backbone)}
    model.eval()
    with torch.no_grad():
        maps = model.backbone.feature_maps(images)
    assert list(top.layers) == list(rfs)
    for name, layer in top.layers.items():
        rf, jump = rfs[name]
        assert (layer.rf, layer.jump) == (rf, jump) and layer.patches.shape == (layer.channels, 4, rf, rf)
        for c in range(layer.channels):
            for r in range(4):
                n, (i, j) = int(layer.image_index[c, r]), layer.position[c, r].tolist()
                assert maps[name][n, c, i, j] == maps[name][n, c].max() == layer.values[c, r]  # the strongest unit
                centre = i * jump + (jump - 1) / 2, j * jump + (jump - 1) / 2  # receptive_fields' arithmetic
                top_, left = int(centre[0] - (rf - 1) / 2), int(centre[1] - (rf - 1) / 2)
                assert layer.box(c, r) == (top_, left, top_ + rf - 1, left + rf - 1)
                expected = patches.crop_box(top.images[n], top_, left, rf)[0]
                assert torch.equal(layer.patches[c, r].isnan(), expected.isnan())
                assert torch.equal(layer.patches[c, r].nan_to_num(-1), expected.nan_to_num(-1))


@pytest.mark.parametrize("layer", ["conv1_2", "pool1", "conv2_2", "pool2", "conv3_3"])
def test_patch_box_is_the_gradient_footprint_of_the_unit(trained_like, layer):
    """Over many inputs, the input pixels that change unit (i, j) are exactly its box (clipped to the image)."""
    model, _ = trained_like
    backbone = copy.deepcopy(model.backbone).eval()
    rf, jump = {n: (r, j) for n, r, j in models.receptive_fields(backbone)}[layer]
    offset = patches.unit_offsets(backbone)[layer]
    x = torch.randn(64, 1, 28, 28, requires_grad=True)
    out = backbone.feature_maps(x)[layer]
    for i, j in [(0, 0), (out.shape[2] // 2, 1), (out.shape[2] - 1, out.shape[3] - 1)]:
        grad, = torch.autograd.grad(out[:, :, i, j].sum(), x, retain_graph=True)
        nonzero = grad.abs().sum((0, 1)) > 0  # (28, 28): the union over 64 images and every channel
        rows, cols = nonzero.any(1).nonzero().flatten(), nonzero.any(0).nonzero().flatten()
        t, lft, b, r = patches.receptive_box(i, j, rf, jump, offset)
        assert (int(rows.min()), int(rows.max())) == (max(t, 0), min(b, 27)), (layer, i, j)
        assert (int(cols.min()), int(cols.max())) == (max(lft, 0), min(r, 27)), (layer, i, j)


def test_one_image_gradient_is_zero_outside_the_field_and_can_be_zero_inside(trained_like):
    model, images = trained_like
    model.train()
    layer, channel = "pool1", 0
    rf, jump = {n: (r, j) for n, r, j in models.receptive_fields(model.backbone)}[layer]
    grad = patches.unit_input_gradient(model, images[0], layer, channel, (5, 6))[0]
    t, lft, b, r = patches.receptive_box(5, 6, rf, jump, patches.unit_offsets(model.backbone)[layer])
    inside = torch.zeros(28, 28, dtype=torch.bool)
    inside[t:b + 1, lft:r + 1] = True
    assert (grad[~inside] == 0).all()
    assert (grad[inside] == 0).sum() >= rf * rf - (rf - 1) ** 2  # max-pool: only 1 of 4 inputs passes the gradient
    assert model.training  # the mode is restored


def test_ranking_matches_a_brute_force_search_on_a_tiny_model():
    torch.manual_seed(1)
    backbone = models.ConvStack(1, ((3,), (2,)))  # conv1_1, pool1, conv2_1
    images = torch.randn(20, 1, 12, 12)
    top = patches.top_patches(backbone, images, k=5)
    assert backbone.training  # computed in eval mode, then the mode is restored
    backbone.eval()
    with torch.no_grad():
        maps = backbone.feature_maps(images)
    for name, m in maps.items():
        for c in range(m.shape[1]):
            best = []  # (value, image, i, j): every image's strongest unit, by a plain loop
            for n in range(m.shape[0]):
                value, where = -math.inf, None
                for i in range(m.shape[2]):
                    for j in range(m.shape[3]):
                        if m[n, c, i, j] > value:
                            value, where = float(m[n, c, i, j]), (i, j)
                best.append((value, n, *where))
            best.sort(key=lambda t: -t[0])
            layer = top.layers[name]
            assert layer.values[c].tolist() == [t[0] for t in best[:5]]
            distinct = [r for r in range(5) if best[r][0] > 0 and all(best[r][0] != best[q][0] for q in range(6)
                                                                       if q != r)]
            for r in distinct:  # ties (e.g. ReLU zeros) may come in any order
                assert int(layer.image_index[c, r]) == best[r][1]
                assert tuple(layer.position[c, r].tolist()) == best[r][2:]


def test_top_patches_use_the_spec_for_display():
    spec = data.get_spec("mnist")
    torch.manual_seed(0)
    raw = torch.randint(0, 256, (6, 1, 28, 28), dtype=torch.uint8)
    top = patches.top_patches(models.build_model("mnist", "gap_fc"), data.normalize(raw, spec), k=2, spec=spec)
    assert torch.allclose(top.images, raw.float() / 255, atol=1e-6)


# ------------------------------------------------------------------ the explorer

@pytest.fixture(scope="module")
def explorer(trained_like):
    model, images = trained_like
    top = patches.top_patches(model, images, k=4)
    return patch_explorer.PatchExplorer(top, torch.arange(48) % 10, tuple("0123456789")), top


def test_explorer_callbacks_draw_the_chosen_layer_and_channel(explorer):
    ex, top = explorer
    for name, control in ex.controls.items():
        assert control.description == name and control.continuous_update is False
    first = ex.show(layer="conv1_1", channel=0)
    assert first.png.startswith(PNG_MAGIC) and ex.image.value == first.png
    seen = {first.png}
    for layer, channel in [("conv1_1", 3), ("pool2", 7), ("conv3_3", 15)]:
        view = ex.show(layer=layer, channel=channel)
        assert torch.equal(view.data.nan_to_num(-1), top.layers[layer].patches[channel].nan_to_num(-1))
        assert [ex.controls["layer"].value, ex.controls["channel"].value] == [layer, channel]
        assert ex.controls["channel"].max == top.layers[layer].channels - 1
        assert f"{top.layers[layer].rf}x{top.layers[layer].rf} px" in view.title
        assert ex.image.value == view.png and view.png not in seen  # a new picture for every setting
        seen.add(view.png)
    ex.controls["layer"].value = "conv2_1"  # moving a slider redraws through the same callback
    assert ex.last.setting["layer"] == "conv2_1" and ex.image.value == ex.last.png
    assert ex.show(layer="conv1_1", channel=99).setting["channel"] == top.layers["conv1_1"].channels - 1
    with pytest.raises(KeyError, match="unknown layer"):
        ex.view(layer="fc", channel=0)


def test_static_figures(explorer):
    ex, top = explorer
    assert isinstance(ex.static_figure(), Figure)
    overview = patch_explorer.patch_overview(top, ["conv1_1", "conv3_3"], channels=4, per_channel=4)
    assert isinstance(overview, Figure) and len(overview.axes) == 8
    m = patch_explorer.mosaic(top.layers["conv1_1"].patches[0, :4], 2)
    assert m.shape == (2 * 24 + 1, 2 * 24 + 1, 3)  # 3-px patches drawn 8x larger, one separator line


def test_break_it_train_mode_leaves_the_model_alone(trained_like):
    model, images = trained_like
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = week04.feature_maps_in_train_mode(model, images[:8], verbose=False)
    assert result["max_difference"] > 1e-3 and result["running_mean_moved"] > 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_week4_figures_have_colour_bars_and_no_jet():
    from course_lib.explore import viz

    overview = viz.layer_overview({"a": torch.randn(4, 8, 8), "b": torch.randn(8, 4, 4)}, torch.rand(1, 8, 8),
                                  channels=3)
    bars = [ax for ax in overview.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 2  # one per layer row, on one colour scale per row
    row_a = [ax.images[0] for ax in overview.axes[1:4]]
    assert len({im.get_clim() for im in row_a}) == 1
    kernels = viz.feature_map_grid(torch.randn(8, 3, 3), shared_scale=True)
    assert any(ax.get_label() == "<colorbar>" for ax in kernels.axes)
    grad = torch.zeros(28, 28)
    grad[5:9, 5:9] = torch.randn(4, 4)
    fig = patch_explorer.gradient_figure(torch.rand(1, 28, 28), grad, (4, 4, 10, 10))
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    for f in (overview, kernels, fig):
        assert all(im.get_cmap().name != "jet" for ax in f.axes for im in ax.images)


def test_units_seeing_the_whole_image_match_the_gradient_footprint(trained_like):
    model, _ = trained_like
    backbone = copy.deepcopy(model.backbone).eval()
    covers = patches.units_seeing_whole_input(backbone)
    assert covers.shape == (7, 7) and int(covers.sum()) == 9 and covers[2:5, 2:5].all()  # the central 3x3
    x = torch.randn(64, 1, 28, 28, requires_grad=True)
    out = backbone.feature_maps(x)["conv3_3"]
    for i in range(7):
        for j in range(7):
            grad, = torch.autograd.grad(out[:, :, i, j].sum(), x, retain_graph=True)
            assert bool((grad.abs().sum((0, 1)) > 0).all()) == bool(covers[i, j]), (i, j)
    assert int(patches.units_seeing_whole_input(backbone, "conv2_2").sum()) == 0  # 14 px < 28 px


def test_top_label_share_counts_the_most_common_label():
    layer = patches.LayerPatches("x", 3, 1, 0.0, torch.zeros(2, 4), torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]]),
                                 torch.zeros(2, 4, 2, dtype=torch.long), torch.zeros(2, 4, 3, 3))
    labels = torch.tensor([1, 1, 1, 2, 0, 3, 5, 7])
    assert patches.top_label_share(layer, labels).tolist() == [0.75, 0.25]

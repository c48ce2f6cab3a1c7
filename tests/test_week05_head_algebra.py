"""Week 5: "is a 1x1 conv a superset of FC?" (course_lib.models.head_algebra), each conversion compared with the
head or PyTorch op it claims to equal, and the position experiment's outcome."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.exercises import week05
from course_lib.models import head_algebra as ha
from course_lib.models import heads


@pytest.fixture()
def feats():
    torch.manual_seed(0)
    return torch.randn(3, 32, 7, 7)


def test_fc_is_a_1x1_conv_applied_at_every_position(feats):
    fc = torch.nn.Linear(32, 5)
    conv = ha.fc_as_conv1x1(fc)
    with torch.no_grad():
        pooled = feats.mean((2, 3))
        assert torch.allclose(conv(pooled[:, :, None, None]).flatten(1), fc(pooled), atol=1e-6)  # a 1x1 map
        out = conv(feats)  # (3,5,7,7)
        per_position = torch.stack([torch.stack([fc(feats[:, :, i, j]) for j in range(7)], -1) for i in range(7)], -2)
    assert torch.allclose(out, per_position, atol=1e-6)
    assert sum(p.numel() for p in conv.parameters()) == sum(p.numel() for p in fc.parameters())  # shared weights


@pytest.mark.parametrize("name", ["gap_fc", "conv1x1_gap"])
@pytest.mark.parametrize("hw", [(7, 7), (3, 5)])
def test_tiled_gap_weights_make_flatten_fc_equal_the_gap_head(name, hw):
    torch.manual_seed(0)
    gap = heads.make_head(name, 16, 4)
    maps = torch.randn(5, 16, *hw)
    flat = ha.gap_head_as_flatten_fc(gap, hw)
    assert isinstance(flat, heads.FlattenFc) and flat.feature_hw == hw
    with torch.no_grad():
        assert torch.allclose(flat(maps), gap(maps), atol=1e-5)
        untiled = heads.make_head("flatten_fc", 16, 4, hw)
        assert not torch.allclose(untiled(maps), gap(maps), atol=1e-2)  # not true of any Flatten->FC


def test_tiling_follows_flattens_channel_major_order():
    weight, bias = torch.randn(2, 3), torch.randn(2)
    tiled, b = ha.tile_gap_weights(weight, bias, (2, 2))
    assert tiled.shape == (2, 12) and torch.equal(b, bias)
    assert torch.allclose(tiled[:, :4], weight[:, :1].expand(2, 4) / 4)  # channel 0's four positions first


def test_gap_heads_ignore_where_flatten_fc_does_not(feats):
    shuffled = ha.permute_positions(feats)
    assert not torch.equal(shuffled, feats)
    assert torch.equal(shuffled.flatten(2).sort(-1).values, feats.flatten(2).sort(-1).values)  # same values, moved
    with torch.no_grad():
        for name in ("gap_fc", "conv1x1_gap"):
            head = heads.make_head(name, 32, 10)
            assert torch.allclose(head(shuffled), head(feats), atol=1e-5)
        flat = heads.make_head("flatten_fc", 32, 10, (7, 7))
        assert not torch.allclose(flat(shuffled), flat(feats), atol=1e-3)


def test_flatten_fc_as_conv_slides_the_head_over_a_larger_map():
    torch.manual_seed(0)
    flat = heads.make_head("flatten_fc", 8, 3, (7, 7))
    conv = ha.flatten_fc_as_conv(flat)
    big = torch.randn(2, 8, 10, 9)
    with torch.no_grad():
        scores = conv(big)
        assert scores.shape == (2, 3, 4, 3)
        for a in range(4):
            for b in range(3):
                assert torch.allclose(scores[:, :, a, b], flat(big[:, :, a:a + 7, b:b + 7]), atol=1e-5)
        small = torch.randn(2, 8, 7, 7)
        assert torch.allclose(conv(small).flatten(1), flat(small), atol=1e-5)
        assert torch.allclose(conv(small), F.conv2d(small, flat.fc.weight.view(3, 8, 7, 7), flat.fc.bias), atol=1e-6)
    with pytest.raises(ValueError, match="built for 7x7 feature maps but got 10x9"):
        flat(big)


def test_position_task_labels_are_the_objects_column():
    maps, cols = ha.position_task(64, channels=4, seed=3)
    assert maps.shape == (64, 4, 7, 7) and cols.max() <= 6
    strongest = maps.sum(1).flatten(1).argmax(1) % 7  # the object is the strongest position
    assert torch.equal(strongest, cols)
    assert torch.equal(ha.position_task(64, channels=4, seed=3)[0], maps)  # repeatable


def test_flatten_heads_learn_the_position_and_gap_heads_stay_at_chance():
    before = torch.get_rng_state()
    result = ha.position_experiment()
    assert torch.equal(torch.get_rng_state(), before)
    assert set(result) == set(heads.HEADS)
    for name in ("flatten_fc", "conv1x1_flatten_fc"):
        assert result[name]["test"] >= 0.95, (name, result)
    for name in ("gap_fc", "conv1x1_gap"):
        assert result[name]["test"] <= 1 / 7 + 0.08, (name, result)
    assert result["gap_fc"] == result["conv1x1_gap"]  # same function class, same start: the same training run
    assert week05.observe_position_task() == "b"


def test_break_it_larger_map_outcomes():
    assert week05.head_on_larger_map("flatten_fc", verbose=False) == "c"
    assert week05.head_on_larger_map("conv1x1_flatten_fc", verbose=False) == "c"
    assert week05.head_on_larger_map("gap_fc", verbose=False) == "a"
    assert week05.conv_score_map_shape(10) == (1, 10, 4, 4) and week05.conv_score_map_shape(7) == (1, 10, 1, 1)


def test_cam_overlay_uses_a_perceptually_uniform_map_with_a_colour_bar():
    from course_lib.explore import viz

    fig = viz.cam_overlay(torch.rand(1, 28, 28), torch.randn(7, 7), "t", "3", 0.5)
    cmaps = {im.get_cmap().name for ax in fig.axes for im in ax.images} - {"gray"}
    assert cmaps == {"inferno"}  # perceptually uniform, the same map as the week 5 CamExplorer
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    assert not any(t.get_text() for ax in fig.axes[1:2] for t in ax.texts)  # no tiny numbers over the map

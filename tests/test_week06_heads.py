"""Week 6: the GAP twins (same function class, same start, only rounding differs), the timing of the heads,
and the sentences that read the results table."""
from __future__ import annotations

import pytest
import torch

from course_lib import models
from course_lib.models import heads
from course_lib.training import head_comparison

from .conftest import write_fake_dataset


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("fake_data")
    write_fake_dataset(path, "mnist", n_train=512, n_test=64)
    return path


def test_the_same_seed_builds_identical_gap_twins_that_compute_the_same_function():
    torch.manual_seed(3)
    a = models.build_model("mnist", "gap_fc")
    torch.manual_seed(3)
    b = models.build_model("mnist", "conv1x1_gap")
    assert torch.equal(head_comparison._twin_vector(a), head_comparison._twin_vector(b))
    x = torch.randn(5, 16, 7, 7)
    reference = x.mean(dim=(2, 3)) @ a.head.fc.weight.T + a.head.fc.bias  # GAP, then the Linear, by hand
    assert torch.allclose(a.head(x), reference, atol=1e-6) and torch.allclose(b.head(x), reference, atol=1e-6)
    torch.manual_seed(4)
    c = models.build_model("mnist", "conv1x1_gap")  # another seed: another start ...
    assert not torch.allclose(c.head(x), reference, atol=1e-3)
    heads.share_fc_weights(a.head, c.head)  # ... until the Linear is copied into the 1x1 conv
    assert torch.allclose(c.head(x), reference, atol=1e-6)


def test_twins_train_identically_in_float64_and_apart_in_float32(root):
    exact = head_comparison.train_twins("mnist", torch.float64, train_size=512, root=root)
    assert exact.init_identical and exact.steps == 4 and len(exact.weight_diff) == 4
    assert exact.init_logit_diff < 1e-12 and max(exact.weight_diff) < 1e-10
    assert torch.allclose(*exact.logits, rtol=0, atol=1e-9) and exact.accuracy[0] == exact.accuracy[1]
    assert exact.logit_scale > 0.1  # the models produce real logits, not zeros
    rough = head_comparison.train_twins("mnist", torch.float32, train_size=512, root=root)
    assert rough.init_identical and rough.init_logit_diff < 1e-5
    assert max(rough.weight_diff) > 1e3 * max(max(exact.weight_diff), 1e-18)  # float32 rounding: far larger


def test_time_heads_gives_one_timing_per_head_with_its_repeats():
    timings = head_comparison.time_heads("mnist", ("gap_fc", "flatten_fc"), repeats=2, min_seconds=0.05)
    assert [t.label for t in timings] == ["gap_fc", "flatten_fc"]
    for t in timings:
        assert len(t.seconds) == 2 and min(t.seconds) >= 0.05 and t.rate > 0
        assert all(w % 128 == 0 for w in t.work)  # whole steps of the MNIST recipe's batch of 128


def test_reading_lines_follow_the_table():
    rows = [{"dataset": "mnist", "head": h, "head params": p, "test acc": a} for h, p, a in
            (("gap_fc", 170, 0.387), ("conv1x1_gap", 170, 0.344), ("flatten_fc", 7850, 0.865),
             ("conv1x1_flatten_fc", 8122, 0.866))]
    (line,) = head_comparison.reading_lines(rows)
    assert "flatten heads lead" in line and "conv1x1_flatten_fc (86.60%)" in line and "47.90 points" in line
    assert "gap_fc (38.70%)" in line and "4.30 points apart" in line and "46x the parameters" in line
    swapped = [{**r, "test acc": 1 - r["test acc"]} for r in rows]  # now the GAP heads win
    (line,) = head_comparison.reading_lines(swapped)
    assert "GAP heads lead" in line and "conv1x1_gap (65.60%)" in line and "flatten_fc (13.50%)" in line
    assert "52.10 points ahead" in line

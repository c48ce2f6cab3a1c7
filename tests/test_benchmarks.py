"""The benchmark harness's own logic (the timings themselves belong to `make bench`, not to tests)."""
from __future__ import annotations

import sys

import pytest
import torch

from course_lib.errors import UnknownNameError

from .conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

import mnist_recipes  # noqa: E402
import run_all  # noqa: E402
import throughput  # noqa: E402


def test_time_to_target_counts_training_seconds_up_to_the_first_epoch_that_reaches_it():
    assert mnist_recipes.time_to_target([0.98, 0.991, 0.995], [10.0, 20.0, 30.0], 0.99) == 30.0
    assert mnist_recipes.time_to_target([0.99], [7.5], 0.99) == 7.5  # reaching it counts
    assert mnist_recipes.time_to_target([0.98, 0.985], [10.0, 20.0], 0.99) is None


def test_baseline_is_the_pytorch_examples_network():
    net = mnist_recipes.ExamplesNet()
    assert sum(p.numel() for p in net.parameters()) == 1_199_882  # pytorch/examples mnist/main.py
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_markdown_table_aligns_every_column():
    table = run_all.markdown_table(("a", "bb"), [("long value", "1"), ("x", "22")])
    lines = table.splitlines()
    assert lines[0] == "| a          | bb |" and lines[1] == "| ---------- | -- |"
    assert lines[2] == "| long value | 1  |" and len({len(line) for line in lines}) == 1


def test_model_throughput_measures_every_precision_and_layout():
    rows = throughput.model_throughput("mnist", steps=1, batch_size=8)
    assert [(r["precision"], r["channels_last"]) for r in rows] == [
        ("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    assert all(r["images_per_s"] > 0 for r in rows)


def test_unknown_dataset_in_throughput_gives_the_registry_error():
    with pytest.raises(UnknownNameError, match="unknown dataset 'cifar11'; valid datasets: cifar10"):
        throughput.model_throughput("cifar11", steps=1, batch_size=2)


def test_slider_render_times_every_strategy_on_new_settings():
    import slider_render

    from course_lib import data
    from course_lib.explore import widgets

    torch.manual_seed(0)
    ex = widgets.SampleExplorer(torch.randint(0, 256, (40, 1, 28, 28), dtype=torch.uint8), torch.arange(40) % 10,
                                data.get_spec("mnist"))
    times = slider_render.measure(ex, "example", moves=2)
    assert list(times) == ["savefig", "new fig + PNG", "full redraw", "show()"]
    assert all(len(ms) == 2 and min(ms) > 0 for ms in times.values())
    assert ex.last.setting == {"class": 0, "example": 2}  # show() walked the new settings


def test_recipe_goal_is_met_only_when_every_seed_is_fast_enough_and_accurate_enough():
    met = mnist_recipes.recipe_goal([30.0, 40.0], [0.9950, 0.9940], baseline_epoch_seconds=[40.0, 40.0])
    assert met["met"] and met["verdict"] == "met"
    assert met["goal"] == "<= 1 baseline epoch(s) and every seed >= 99.40%"  # the label says the bounds used
    assert met["ratios"] == [0.75, 1.0] and met["median_ratio"] == 0.875
    slow = mnist_recipes.recipe_goal([30.0, 41.0], [0.9950, 0.9950], baseline_epoch_seconds=[40.0, 40.0])
    assert not slow["met"] and slow["verdict"] == "not met: seeds [1] take more than 1 baseline epoch(s)"
    paired = mnist_recipes.recipe_goal([30.0, 41.0], [0.9950, 0.9950], baseline_epoch_seconds=[40.0, 50.0])
    assert paired["met"] and paired["ratios"] == [0.75, 0.82]  # each run against its own baseline epoch
    low = mnist_recipes.recipe_goal([30.0, 30.0, 30.0], [0.9950, 0.9939, 0.9938], baseline_epoch_seconds=[40.0] * 3)
    assert not low["met"] and low["verdict"] == "not met: seeds [1, 2] hold less than 99.40%"


def test_compare_runs_one_baseline_epoch_before_each_course_run_and_the_rest_until_99_percent(monkeypatch):
    order = []

    def fake_baseline(max_epochs):
        for epoch, acc in enumerate([0.98, 0.985, 0.991, 0.992][:max_epochs]):
            order.append(f"b{epoch}")
            yield acc, 10.0 + epoch

    def fake_course(seed, target):
        order.append(f"c{seed}")
        return {"params": 1, "test_acc": [0.995, 0.996], "seconds": [4.0, 4.0 + seed], "time_to_target": 4.0,
                "epochs": 2}

    monkeypatch.setattr(mnist_recipes, "baseline_epochs", fake_baseline)
    monkeypatch.setattr(mnist_recipes, "course_run", fake_course)
    result = mnist_recipes.compare(runs=2, baseline_max_epochs=4)
    assert order == ["b0", "c0", "b1", "c1", "b2"]  # stops at 99 %, before its max of 4 epochs
    assert result["baseline"]["time_to_target"] == 33.0 and result["baseline"]["seconds"] == [10.0, 11.0, 12.0]
    assert result["goal"]["ratios"] == [8.0 / 10.0, 9.0 / 11.0] and result["goal"]["met"]  # paired epochs
    order.clear()
    result = mnist_recipes.compare(runs=3, baseline_max_epochs=2)
    assert order == ["b0", "c0", "b1", "c1", "b2", "c2"]  # a pair for every run, even past 99 %
    assert result["goal"]["ratios"] == [8.0 / 10.0, 9.0 / 11.0, 10.0 / 12.0]

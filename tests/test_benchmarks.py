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

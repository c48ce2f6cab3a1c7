"""Kernel-side time to draw an explorer's figure for a setting never drawn, per drawing strategy.

Usage: python benchmarks/slider_render.py [--moves 20]
Each explorer is built as its lesson builds it (real MNIST test images; an untrained model: drawing costs
do not depend on training) and the slider the browser test moves walks over `--moves` new settings. Per
setting, every strategy draws it, interleaved so they share the machine's noise:
  savefig        a new Figure per move, laid out and saved by `viz.to_png` (what the explorers did before)
  new fig + PNG  a new Figure per move, drawn on its canvas and encoded by `fast_render.encode_png`
  full redraw    one Figure per explorer, layout frozen, every artist redrawn, encode_png (draw cost only:
                 the artists keep their data, updating it costs under 1 ms)
  show()         what a slider move runs now: `Explorer.show` on a setting not shown before: a LiveFigure
                 frame for three explorers. Once an explorer appears a background thread prepares what a frame
                 cannot reuse, and this benchmark waits for it: the batch stepper's seven charts (each drawn as
                 "new fig + PNG"; show() then finds them in its cache) and the feature-map explorer's LiveFigure
                 per map size (its "layer" row: a layer change redraws only what changed)
Prints median and 90th percentile in ms, with the machine (`training.environment_line()`) and load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402

from course_lib import data, models  # noqa: E402
from course_lib.explore import fast_render, viz, widgets  # noqa: E402
from course_lib.training import environment_line, lifecycle  # noqa: E402


def _ms(f) -> float:
    start = time.perf_counter()
    f()
    return 1000 * (time.perf_counter() - start)


def explorers(n_images: int = 32) -> dict[str, tuple[widgets.Explorer, str]]:
    """{name: (explorer, the slider the browser test moves)}, built like the lessons build them."""
    spec = data.get_spec("mnist")
    images, labels = data.load_tensors("mnist", train=False)  # uint8 (N,1,28,28), (N,)
    images, labels = images[:2000], labels[:2000]
    torch.manual_seed(0)
    model = models.build_model("mnist", "conv1x1_gap").eval()
    X, y = data.normalize(images[:n_images], spec), labels[:n_images]
    cycle = lifecycle.record_life_cycle(model, (data.normalize(images[:128], spec), labels[:128]), lr=0.1,
                                        device=torch.device("cpu"))
    return {"SampleExplorer": (widgets.SampleExplorer(images, labels, spec), "example"),
            "BatchStepper": (widgets.BatchStepper(cycle, spec.classes, spec), "step"),
            "FeatureMapExplorer": (widgets.FeatureMapExplorer(model, X, y, spec), "image"),
            "FeatureMap, layer": (widgets.FeatureMapExplorer(model, X, y, spec), "layer"),
            "CamExplorer": (widgets.CamExplorer(model, X, y, spec), "image")}


def _settings(ex: widgets.Explorer, slider: str, moves: int) -> list[dict]:
    c = ex.controls[slider]
    if hasattr(c, "options"):  # a SelectionSlider: (label, value) pairs or plain values
        values = [o[1] if isinstance(o, tuple) else o for o in c.options]
    else:
        values = list(range(c.min, c.max + 1))
    return [ex.defaults | {slider: v} for v in values[1:moves + 1]]  # the default is drawn first, below


def measure(ex: widgets.Explorer, slider: str, moves: int) -> dict[str, list[float]]:
    """Milliseconds per strategy over the new settings of `slider`."""
    times: dict[str, list[float]] = {"savefig": [], "new fig + PNG": [], "full redraw": [], "show()": []}
    frozen = ex.figure(ex.view(**ex.defaults))
    fast_render.figure_png(frozen)  # laid out once
    frozen.set_layout_engine("none")
    ex.show(**ex.defaults)  # the explorer appears: its first figure (and LiveFigure) is built
    ex.wait_ahead()  # what the explorer prepares in a background thread once it appears (see the docstring)
    for s in _settings(ex, slider, moves):
        times["savefig"].append(_ms(lambda: viz.to_png(ex.figure(ex.view(**s)))))
        times["new fig + PNG"].append(_ms(lambda: fast_render.figure_png(ex.figure(ex.view(**s)))))
        times["full redraw"].append(_ms(lambda: fast_render.figure_png(frozen)))
        times["show()"].append(_ms(lambda: ex.show(**s)))
    return times


def _p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=20, help="new settings per explorer")
    args = parser.parse_args(argv)
    print(f"{environment_line()}; load average {os.getloadavg()[0]:.2f} (start)")
    rows = []
    for name, (ex, slider) in explorers().items():
        for strategy, ms in measure(ex, slider, args.moves).items():
            rows.append((name, strategy, statistics.median(ms), _p90(ms), len(ms)))
    print(f"{'explorer':20s} {'strategy':32s} {'median ms':>9s} {'p90 ms':>8s}   n")
    for name, strategy, med, p90, n in rows:
        print(f"{name:20s} {strategy:32s} {med:9.1f} {p90:8.1f} {n:3d}")
    print(f"load average {os.getloadavg()[0]:.2f} (end)")


if __name__ == "__main__":
    main()

"""MNIST time-to-accuracy: course_lib's default recipe vs the classic PyTorch example recipe.

The baseline is pytorch/examples' mnist/main.py: two conv layers, dropout, Flatten -> FC
9216 -> 128 -> 10, Adadelta lr=1.0, StepLR gamma=0.7, batch 64, a DataLoader over
torchvision's MNIST with ToTensor + Normalize. Both read the same provisioned files.
"""
from __future__ import annotations

import statistics
import time
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from course_lib import training
from course_lib.models import count_parameters
from course_lib.paths import data_root
from course_lib.training import evaluate, get_device, seed_everything


def time_to_target(accuracies: list[float], seconds: list[float], target: float) -> float | None:
    """Training seconds until the first epoch whose test accuracy reaches `target` (None: never)."""
    total = 0.0
    for acc, sec in zip(accuracies, seconds):
        total += sec
        if acc >= target:
            return total
    return None


class ExamplesNet(nn.Module):
    """pytorch/examples mnist `Net`, verbatim in structure."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


def baseline_epochs(max_epochs: int = 10, seed: int = 1) -> Iterator[tuple[float, float]]:
    """Train the examples recipe one epoch per `next()`: yields (test accuracy, training seconds) for up to
    `max_epochs`. A generator, so that its epochs can run between the course's runs and each course run is
    timed against the baseline epoch run just before it, on the same minutes of a shared machine."""
    import torchvision
    from torchvision import transforms

    seed_everything(seed)
    device = get_device()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    root = str(data_root())
    train_ds = torchvision.datasets.MNIST(root, train=True, download=False, transform=tf)
    test_ds = torchvision.datasets.MNIST(root, train=False, download=False, transform=tf)
    train_loader = torch.utils.data.DataLoader(train_ds, batch_size=64, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_ds, batch_size=1000)
    model = ExamplesNet().to(device)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    for _ in range(max_epochs):
        model.train()
        start = time.perf_counter()
        for X, y in train_loader:
            X, y = X.to(device), y.to(device)
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            opt.step()
        seconds = time.perf_counter() - start
        sched.step()
        yield evaluate(model, test_loader, device).accuracy, seconds


def baseline_summary(epochs: list[tuple[float, float]], target: float = 0.99) -> dict:
    """The baseline's parameters, per-epoch test accuracies and seconds, and its time to `target`."""
    accs, seconds = [a for a, _ in epochs], [s for _, s in epochs]
    return {"params": count_parameters(ExamplesNet()), "test_acc": accs, "seconds": seconds,
            "time_to_target": time_to_target(accs, seconds, target)}


def course_run(seed: int, target: float = 0.99) -> dict:
    """course_lib's default MNIST recipe (what `python -m course_lib train --dataset mnist` runs)."""
    config = training.default_config("mnist", seed=seed)
    model, history = training.run_training(config, progress=False)
    return {"params": count_parameters(model), "test_acc": history.test_acc, "seconds": history.seconds,
            "time_to_target": time_to_target(history.test_acc, history.seconds, target),
            "epochs": config.epochs}


def recipe_goal(course_seconds: list[float], held: list[float], baseline_epoch_seconds: list[float],
                max_ratio: float = 1.0, min_held: float = 0.994) -> dict:
    """Issue 17's goal for the default recipe, from one bench run: every seed's training time at most
    `max_ratio` times the baseline epoch paired with it (run just before it), and every seed's accuracy held
    over its last two epochs >= `min_held`."""
    ratios = [c / b for c, b in zip(course_seconds, baseline_epoch_seconds, strict=True)]
    slow = [seed for seed, r in enumerate(ratios) if r > max_ratio]
    low = [seed for seed, a in enumerate(held) if a < min_held]
    misses = []
    if slow:
        misses.append(f"seeds {slow} take more than {max_ratio:g} baseline epoch(s)")
    if low:
        misses.append(f"seeds {low} hold less than {min_held:.2%}")
    return {"goal": f"<= {max_ratio:g} baseline epoch(s) and every seed >= {min_held:.2%}",
            "ratios": ratios, "median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
            "max_ratio": max(ratios), "met": not misses,
            "verdict": "met" if not misses else "not met: " + "; ".join(misses)}


def compare(runs: int = 10, baseline_max_epochs: int = 6, target: float = 0.99) -> dict:
    """`runs` course runs (seeds 0..runs-1), each after one baseline epoch (its pair for the time ratio; the
    baseline trains on past 99 % when runs > the epochs it needs), then more baseline epochs until it
    reaches `target` or `baseline_max_epochs`. All in this process."""
    baseline = baseline_epochs(max(runs, baseline_max_epochs))
    course, base_epochs = [], []
    for seed in range(runs):
        base_epochs.append(next(baseline))
        course.append(course_run(seed, target))
    while len(base_epochs) < baseline_max_epochs and max(a for a, _ in base_epochs) < target:
        base_epochs.append(next(baseline))
    base = baseline_summary(base_epochs, target)
    totals = [sum(r["seconds"]) for r in course]  # training seconds of each course run
    held = [min(r["test_acc"][-2:]) for r in course]  # accuracy held over the last two epochs
    t99 = statistics.median(r["time_to_target"] or float("nan") for r in course)
    return {
        "course": {"runs": course, "median_seconds": statistics.median(totals), "min_acc_last_two": held,
                   "median_time_to_99": t99},
        "baseline": base,
        "goal": recipe_goal(totals, held, [s for _, s in base_epochs[:runs]]),
        "ratio_time_to_99": t99 / base["time_to_target"] if base["time_to_target"] else None,
    }

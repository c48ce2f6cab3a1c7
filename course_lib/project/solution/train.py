"""Train your classifier: `python train.py --dataset mnist` (or fashion_mnist, cifar10, cifar100).

This file only wires your modules together: data.py gives the batches, model.py the network,
utils.py the training steps. COURSE_FAST=1 trains one epoch on a small subset, for a quick look.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

import data  # your data.py, beside this file
import model  # your model.py
import utils  # your utils.py
from course_lib import data as course_data  # the course's registry of data sets

FAST = os.environ.get("COURSE_FAST", "0").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Config:
    """Everything a run depends on, in one place; printed at the start."""

    head: str = "gap_fc"  # gap_fc | flatten_fc (model.HEADS)
    epochs: int = 1 if FAST else 3  # passes over the training images
    batch_size: int = 64  # images per step
    lr: float = 0.05  # SGD learning rate
    momentum: float = 0.9  # SGD momentum
    train_size: int | None = 2048 if FAST else None  # None = every training image
    test_size: int | None = 1024 if FAST else None  # None = every test image
    seed: int = 0  # the same weights and batch order on every run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help=" | ".join(course_data.DATASETS))
    name, cfg = parser.parse_args(argv).dataset, Config()
    if name not in course_data.DATASETS:
        sys.exit(f"error: unknown dataset {name!r}; choose one of {', '.join(course_data.DATASETS)}")
    if not course_data.is_available(name):
        sys.exit(f"error: {name} is not on this machine: `python -m course_lib data fetch {name}` "
                 "provisions it (CIFAR-10/100 need internet), or pick another --dataset")
    spec = course_data.get_spec(name)  # input shape (C,H,W) and class names
    print(f"{name}{' (fast mode)' if FAST else ''}: {asdict(cfg)}")
    torch.manual_seed(cfg.seed)
    device = utils.get_device()
    train_loader, test_loader = data.build_loaders(name, cfg.batch_size, train_size=cfg.train_size,
                                                   test_size=cfg.test_size, seed=cfg.seed)
    net = model.Net(spec.input_shape[0], len(spec.classes), spec.input_shape[1], head=cfg.head).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    checkpoint = Path(__file__).resolve().parent / "checkpoints" / f"{name}_{cfg.head}.pt"
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        train_loss = utils.train_one_epoch(net, train_loader, optimizer, device)
        test_loss, test_acc = utils.evaluate(net, test_loader, device)
        utils.save_checkpoint(checkpoint, net, optimizer, epoch)
        print(f"epoch {epoch}/{cfg.epochs}: train loss {train_loss:.3f}, test loss {test_loss:.3f}, "
              f"test acc {100 * test_acc:.2f}% ({time.perf_counter() - start:.1f} s on {device})")
    print(f"checkpoint: {checkpoint}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NotImplementedError as exc:  # a stub still to write: say which, without a long traceback
        sys.exit(f"error: not written yet: {exc}. `python -m course_lib project check` says what is left.")

"""What changes over a run: the optimizer's learning-rate schedule and when augmentation stops."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from ..config import TrainConfig


class OneCycleThenHold(torch.optim.lr_scheduler.OneCycleLR):
    """OneCycle over `total_steps`; later steps keep its final learning rate (the cooldown)."""

    def step(self) -> None:
        if self.last_epoch < self.total_steps - 1:  # the last step of OneCycle reached its final lr
            super().step()


def make_optimizer(model: nn.Module, config: TrainConfig,
                   steps_per_epoch: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and (by default) a OneCycle learning-rate schedule: up from lr/25
    to lr, down to lr/500 a fraction `config.cooldown` of the run before its end, then held there
    (fine-tuning: the accuracy of the last epochs is that of a settled model, not a lucky step)."""
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    if config.schedule == "onecycle":  # config.py's check_config holds every field in its range
        anneal_steps = round((1 - config.cooldown) * config.epochs * steps_per_epoch)
        total = max(4, anneal_steps)  # OneCycle needs a few steps per phase
        sched = OneCycleThenHold(opt, max_lr=config.lr, total_steps=total, pct_start=max(0.25, 2 / total),
                                 div_factor=25, final_div_factor=20,  # lr/25 -> lr -> lr/500
                                 cycle_momentum=False)  # keep config.momentum
    elif config.schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; valid: onecycle, constant")  # checked in config
    return opt, sched


@contextlib.contextmanager
def augmentation_schedule(loader, config: TrainConfig):
    """Yields `start_epoch(epoch)`, which turns a loader's augmentation off for the last
    `config.clean_epochs` epochs: the run ends on the real images it will be tested on. Only loaders
    with an `augment` switch that is on are touched; the switch is restored when the block ends."""
    augments = bool(getattr(loader, "augment", False))

    def start_epoch(epoch: int) -> None:
        if augments:
            loader.augment = epoch < config.epochs - config.clean_epochs

    try:
        yield start_epoch
    finally:
        if augments:
            loader.augment = True

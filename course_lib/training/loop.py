"""`fit()`: the training loop of one process, evaluating and checkpointing after every epoch."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import TrainConfig
from .checkpoint import check_checkpoint, checkpoint_state, load_checkpoint, restore_checkpoint, save_checkpoint
from .device import get_device
from .evaluate import evaluate
from .history import History
from .schedule import augmentation_schedule, make_optimizer
from .step import train_step


def _resume(path: Path, config: TrainConfig, model, opt, sched, device) -> tuple[int, History]:
    state = load_checkpoint(path, map_location=device)
    check_checkpoint(state, path, config)
    return restore_checkpoint(state, model, opt, sched)


@dataclass
class EpochResult:
    """Sums over one training epoch (tensors stay on the device until read)."""

    loss_sum: torch.Tensor  # sum of per-image losses
    correct: torch.Tensor  # images whose argmax prediction was right
    seen: int  # images trained on
    seconds: float  # wall time of the epoch's training steps


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, opt, sched, device: torch.device,
                config: TrainConfig, desc: str = "", progress: bool = True) -> EpochResult:
    """One pass over `loader`: train_step + scheduler step per batch, summing loss and hits."""
    model.train()
    loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress)
    start_time = time.perf_counter()
    for i, batch in enumerate(bar):
        step = train_step(model, batch, loss_fn, opt, device, config.bf16, config.channels_last)
        sched.step()
        loss_sum += step.loss * step.count
        correct += step.correct
        seen += step.count
        if progress and i % 20 == 0:
            bar.set_postfix(loss=f"{step.loss.item():.3f}")
    return EpochResult(loss_sum, correct, seen, time.perf_counter() - start_time)


def fit(model: nn.Module, train_loader, test_loader, config: TrainConfig | None = None, *,
        on_epoch_end: Callable[[int, History], None] | None = None, progress: bool = True) -> History:
    """Train `model` for `config.epochs`, evaluating and checkpointing after every epoch."""
    config = config or TrainConfig()
    device = get_device(config.device or None)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    opt, sched = make_optimizer(model, config, len(train_loader))
    history, start = History(), 0
    ckpt = Path(config.checkpoint) if config.checkpoint else None
    if ckpt and ckpt.exists() and config.resume:
        start, history = _resume(ckpt, config, model, opt, sched, device)
        print(f"resumed from {ckpt}: {start} of {config.epochs} epochs done")
    with augmentation_schedule(train_loader, config) as start_epoch_augmentation:
        for epoch in range(start, config.epochs):
            torch.manual_seed(config.seed * 1000 + epoch)  # dropout etc. depend only on (seed, epoch)
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            elif getattr(train_loader, "generator", None) is not None:
                train_loader.generator.manual_seed(config.seed * 1000 + epoch)
            start_epoch_augmentation(epoch)
            ep = train_epoch(model, train_loader, loss_fn, opt, sched, device, config,
                             desc=f"epoch {epoch + 1}/{config.epochs}", progress=progress)
            seconds = ep.seconds
            result = evaluate(model, test_loader, device, bf16=config.bf16, channels_last=config.channels_last)
            history.append(epoch=epoch + 1, train_loss=ep.loss_sum.item() / ep.seen,
                           train_acc=ep.correct.item() / ep.seen,
                           test_loss=result.loss, test_acc=result.accuracy, seconds=seconds)
            print(f"epoch {epoch + 1}/{config.epochs}: train loss {history.train_loss[-1]:.4f}, "
                  f"test acc {result.accuracy:.2%} ({seconds:.1f} s)", flush=True)
            if ckpt:
                save_checkpoint(ckpt, checkpoint_state(epoch + 1, model, opt, sched, history, config))
            if on_epoch_end:
                on_epoch_end(epoch + 1, history)
    return history

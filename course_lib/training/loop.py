"""`fit()`: the one training loop, for one process or for N processes under DDP (like nanoGPT's train.py).

fit() asks the processes it runs in (`world`) for the few things that differ: the default
`SingleProcess` answers for one process; `distributed.Context` answers for DDP (all-reduce, rank 0's
evaluation and checkpoint, the data shard). Everything else is the same code on one device or many.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import TrainConfig, check_config
from .checkpoint import (
    check_checkpoint,
    check_writable,
    checkpoint_state,
    load_checkpoint,
    lock_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from .device import get_device
from .evaluate import evaluate
from .history import CURVE_POINTS_PER_EPOCH, History
from .schedule import augmentation_schedule, make_optimizer
from .step import train_step


@dataclass
class SingleProcess:
    """What fit() asks of the processes it runs in, answered for one process. `distributed.Context`
    overrides each method for N processes: together its overrides are the whole diff to DDP."""

    device: torch.device
    rank: int = 0  # this process among all of them
    world_size: int = 1
    saved_epoch: int = 0  # the last epoch this run wrote to the checkpoint (0: none yet)
    lock: Any = field(default=None, init=False, repr=False)  # the checkpoint's lock, held while fit() runs

    @property
    def is_main(self) -> bool:
        """True on the process that evaluates, prints and writes checkpoints (rank 0)."""
        return self.rank == 0

    def log(self, *args) -> None:
        """print() on the main process only, so N processes do not print N copies."""
        if self.is_main:
            print(*args, flush=True)

    def batch_note(self, batch_size: int) -> str:
        """What a batch is here (DDP adds: per process, global batch)."""
        return ""

    def shard(self, loader, config: TrainConfig):
        """The part of the training data this process trains on: all of it."""
        return loader

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module trained on (DDP: wrapped, so backward averages the gradients over processes)."""
        return model

    def load_checkpoint(self, path: Path, config: TrainConfig) -> dict | None:
        """The state to resume from (checked to belong to this run), or None; first, before any epoch is
        spent, that a checkpoint can be written there."""
        check_writable(path)
        self.lock = lock_checkpoint(path)
        if not config.resume or not path.exists():
            return None
        state = load_checkpoint(path, map_location=self.device)
        check_checkpoint(state, path, config)
        return state

    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint records about the processes that wrote it."""
        return {}

    def start_epoch(self, epoch: int) -> None:
        """Called before every epoch."""

    def sum(self, *values) -> list[float]:
        """Each value summed over all processes, as Python numbers."""
        return [v.item() if isinstance(v, torch.Tensor) else v for v in values]

    def slowest(self, seconds: float) -> float:
        """The longest time any process took."""
        return seconds

    def from_main(self, obj):
        """The main process's `obj`, on every process."""
        return obj


def set_epoch(loader: Iterable, epoch: int, seed: int) -> None:
    """Make the loader's shuffle depend only on (seed, epoch): a resumed run sees the same batches."""
    if hasattr(loader, "set_epoch"):  # InMemoryLoader, and its shards under DDP
        loader.set_epoch(epoch)
    elif hasattr(getattr(loader, "sampler", None), "set_epoch"):  # DataLoader + DistributedSampler
        loader.sampler.set_epoch(epoch)  # forget this and every epoch repeats the same shuffle
    elif getattr(loader, "generator", None) is not None:  # a shuffling DataLoader
        loader.generator.manual_seed(seed * 1000 + epoch)


@dataclass
class EpochResult:
    """Sums over one training epoch (tensors stay on the device until read)."""

    loss_sum: torch.Tensor  # sum of per-image losses
    correct: torch.Tensor  # images whose argmax prediction was right
    seen: int  # images trained on
    seconds: float  # wall time of the epoch's training steps
    curve: list[tuple[float, float, float]]  # (fraction of the epoch, mean loss, accuracy) of each stretch


def _length(loader: Iterable) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def curve_points(n_batches: int) -> set[int]:
    """After which batches (1-based) an epoch of `n_batches` records a curve point: ceil(k * n / P) for
    k = 1..P, P = CURVE_POINTS_PER_EPOCH (every batch when there are fewer); the last batch is always one."""
    return {math.ceil(k * n_batches / CURVE_POINTS_PER_EPOCH) for k in range(1, CURVE_POINTS_PER_EPOCH + 1)}


def train_epoch(model: nn.Module, loader: Iterable, loss_fn: Callable, opt, sched, device: torch.device,
                config: TrainConfig, desc: str = "", progress: bool = True) -> EpochResult:
    """One pass over `loader`: train_step + scheduler step per batch, summing loss and hits, with a point of
    the training curve after each 1/CURVE_POINTS_PER_EPOCH of the epoch's batches (`curve_points`; a loader
    without a length gives one point, at the end)."""
    model.train()
    loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
    n_batches, curve = _length(loader), []
    points = curve_points(n_batches) if n_batches else {}
    mark = (loss_sum.clone(), correct.clone(), 0)  # the sums at the previous curve point
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
        if i + 1 in points:
            n = seen - mark[2]
            curve.append(((i + 1) / n_batches, ((loss_sum - mark[0]) / n).item(), ((correct - mark[1]) / n).item()))
            mark = (loss_sum.clone(), correct.clone(), seen)
    if not points and seen:
        curve.append((1.0, (loss_sum / seen).item(), (correct / seen).item()))
    return EpochResult(loss_sum, correct, seen, time.perf_counter() - start_time, curve)


def fit(model: nn.Module, train_loader: Iterable, test_loader: Iterable, config: TrainConfig | None = None, *,
        on_epoch_end: Callable[[int, History], None] | None = None, progress: bool = True,
        world: SingleProcess | None = None) -> History:
    """Train `model` for `config.epochs`, evaluating and checkpointing after every epoch.

    One process by default; under torchrun, `world=distributed.setup()` makes the same loop DDP."""
    config = config or TrainConfig()
    check_config(config)  # a config changed field by field after it was built is checked here
    world = world or SingleProcess(get_device(config.device or None))
    device = world.device
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    opt, sched = make_optimizer(model, config, len(train_loader))
    history, start = History(), 0
    ckpt = Path(config.checkpoint) if config.checkpoint else None
    try:
        state = world.load_checkpoint(ckpt, config) if ckpt else None
        if state is not None:
            start, history = restore_checkpoint(state, model, opt, sched, ckpt)
            world.saved_epoch = start  # the file holds these epochs until this run writes the next one
            world.log(f"resumed from {ckpt}: {start} of {config.epochs} epochs done")
        if start >= config.epochs:
            world.log("nothing to train: " + (f"all {config.epochs} epochs are done in {ckpt} (another --checkpoint "
                                              "path trains again)" if start else "epochs=0 (give --epochs 1 or more)"))
        net = world.wrap(model)  # what trains; `model` (the same weights) evaluates and is saved
        with augmentation_schedule(train_loader, config) as start_epoch_augmentation:
            for epoch in range(start, config.epochs):
                world.start_epoch(epoch)
                torch.manual_seed(config.seed * 1000 + epoch + 7919 * world.rank)  # dropout: (seed, epoch, rank)
                set_epoch(train_loader, epoch, config.seed)
                start_epoch_augmentation(epoch)
                ep = train_epoch(net, train_loader, loss_fn, opt, sched, device, config,
                                 desc=f"epoch {epoch + 1}/{config.epochs}", progress=progress)
                loss_sum, correct, seen = world.sum(ep.loss_sum, ep.correct, ep.seen)  # over all processes
                seconds = world.slowest(ep.seconds)
                if world.is_main:  # one process evaluates, prints and writes the checkpoint
                    result = evaluate(model, test_loader, device, bf16=config.bf16, channels_last=config.channels_last)
                    history.append(epoch=epoch + 1, train_loss=loss_sum / seen, train_acc=correct / seen,
                                   test_loss=result.loss, test_acc=result.accuracy, seconds=seconds)
                    history.add_curve([(epoch + f, loss, acc) for f, loss, acc in ep.curve])  # this process's batches
                    world.log(f"epoch {epoch + 1}/{config.epochs}: train loss {history.train_loss[-1]:.4f}, "
                              f"test acc {result.accuracy:.2%} ({seconds:.1f} s)")
                    if ckpt:
                        save_checkpoint(ckpt, checkpoint_state(epoch + 1, model, opt, sched, history, config,
                                                               **world.checkpoint_extra()))
                        world.saved_epoch = epoch + 1  # what the file on rank 0's disk holds now
                history = world.from_main(history)  # the same record everywhere; nobody runs ahead of the checkpoint
                if on_epoch_end:
                    on_epoch_end(epoch + 1, history)
    finally:
        if world.lock is not None:  # the checkpoint is free for the next run
            world.lock.release()
            world.lock = None
    return history

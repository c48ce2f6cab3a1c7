"""Training: the life cycle of one batch, evaluation, and `fit()` with history and checkpoints."""
from __future__ import annotations

import contextlib
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig

CHECKPOINT_FORMAT = "course_lib.checkpoint/1"


def get_device(prefer: str | None = None) -> torch.device:
    """`prefer` if given, else the best accelerator present: cuda, then mps, then cpu."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated exactly (on the same hardware)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast_context(device: torch.device, bf16: bool):
    """bf16 autocast on `device` when asked for, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@dataclass
class StepResult:
    """What one training step reports (tensors: reading them waits for the device)."""

    loss: torch.Tensor  # the single final error value, detached
    correct: torch.Tensor  # how many argmax predictions were right
    count: int  # batch size


def train_step(model: nn.Module, batch, loss_fn: Callable, optimizer: torch.optim.Optimizer,
               device: torch.device, bf16: bool = False, channels_last: bool = False) -> StepResult:
    """The life cycle of one batch, step by step."""
    X, y_actual = batch
    # 1. send the batch to the device (CPU, GPU, ...): the weights W are already there
    X, y_actual = X.to(device, non_blocking=True), y_actual.to(device, non_blocking=True)
    if channels_last:
        X = X.contiguous(memory_format=torch.channels_last)
    # 2. forward pass: y_out = f(X, W), one row of class scores per image
    with autocast_context(device, bf16):
        y_out = model(X)
    # 3. the error between y_out and y_actual, reduced to one number: the loss node
    loss = loss_fn(y_out.float(), y_actual)
    # 4. forget the previous batch's gradients
    optimizer.zero_grad(set_to_none=True)
    # 5. backward pass: dLoss/dW for every weight
    loss.backward()
    # 6. update: W <- W - lr * dLoss/dW (plus momentum and weight decay)
    optimizer.step()
    # 7. argmax turns each row of scores into a class index
    y_pred = y_out.detach().argmax(dim=1)
    return StepResult(loss.detach(), (y_pred == y_actual).sum(), len(y_actual))


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable, device: torch.device, bf16: bool = False,
            channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All logits (N,K) and labels (N,) of `loader`, in eval mode, on the CPU."""
    was_training = model.training
    model.eval()
    logits, labels = [], []
    for X, y in loader:
        X = X.to(device, non_blocking=True)
        if channels_last:
            X = X.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, bf16):
            logits.append(model(X).float().cpu())
        labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


@dataclass
class EvalResult:
    loss: float
    accuracy: float  # fraction in [0, 1]
    per_class_accuracy: list[float]  # fraction right for each true class (nan if absent)
    count: int


def evaluate(model: nn.Module, loader: Iterable, device: torch.device, num_classes: int | None = None,
             bf16: bool = False, channels_last: bool = False) -> EvalResult:
    """Loss, argmax accuracy and per-class accuracy over `loader` (eval mode, no gradients)."""
    logits, labels = predict(model, loader, device, bf16, channels_last)
    num_classes = num_classes or logits.shape[1]
    hits = (logits.argmax(1) == labels).float()
    per_class = torch.zeros(num_classes).index_add_(0, labels, hits)
    totals = torch.bincount(labels, minlength=num_classes).float()
    per_class = torch.where(totals > 0, per_class / totals.clamp(min=1), torch.tensor(float("nan")))
    return EvalResult(nn.functional.cross_entropy(logits, labels).item(), hits.mean().item(),
                      per_class.tolist(), len(labels))


@dataclass
class History:
    """Per-epoch records of a run; plain lists so it can live inside a checkpoint."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # training time of the epoch (no eval)

    def append(self, **record) -> None:
        for name, value in record.items():
            getattr(self, name).append(value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**{f.name: list(d.get(f.name, [])) for f in fields(cls)})

    def __len__(self) -> int:
        return len(self.epoch)

    def table(self) -> str:
        rows = ["epoch  train_loss  train_acc  test_loss  test_acc  seconds"]
        for i in range(len(self)):
            rows.append(f"{self.epoch[i]:>5}  {self.train_loss[i]:>10.4f}  {self.train_acc[i]:>9.4f}  "
                        f"{self.test_loss[i]:>9.4f}  {self.test_acc[i]:>8.4f}  {self.seconds[i]:>7.1f}")
        return "\n".join(rows)


class OneCycleThenHold(torch.optim.lr_scheduler.OneCycleLR):
    """OneCycle over `total_steps`; later steps keep its final learning rate (the cooldown)."""

    def step(self) -> None:
        if self.last_epoch < self.total_steps - 1:  # the last step of OneCycle reached its final lr
            super().step()


def make_optimizer(model: nn.Module, config: TrainConfig, steps_per_epoch: int):
    """SGD with Nesterov momentum and (by default) a OneCycle learning-rate schedule: up from lr/25
    to lr, down to lr/500 a fraction `config.cooldown` of the run before its end, then held there
    (fine-tuning: the accuracy of the last epochs is that of a settled model, not a lucky step)."""
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                          nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    if config.schedule == "onecycle":
        if not 0 <= config.cooldown < 1:
            raise ValueError(f"cooldown is the fraction of the run held at the final lr: it must be in "
                             f"[0, 1), got {config.cooldown}")
        anneal_steps = round((1 - config.cooldown) * config.epochs * steps_per_epoch)
        total = max(4, anneal_steps)  # OneCycle needs a few steps per phase
        sched = OneCycleThenHold(opt, max_lr=config.lr, total_steps=total, pct_start=max(0.25, 2 / total),
                                 div_factor=25, final_div_factor=20,  # lr/25 -> lr -> lr/500
                                 cycle_momentum=False)  # keep config.momentum
    elif config.schedule == "constant":
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; valid: onecycle, constant")
    return opt, sched


@contextlib.contextmanager
def augmentation_schedule(loader, config: TrainConfig):
    """Yields `start_epoch(epoch)`, which turns a loader's augmentation off for the last
    `config.clean_epochs` epochs: the run ends on the real images it will be tested on. Only loaders
    with an `augment` switch that is on are touched; the switch is restored when the block ends."""
    if config.clean_epochs < 0:
        raise ValueError(f"clean_epochs counts the last epochs without augmentation: it must be >= 0, "
                         f"got {config.clean_epochs}")
    augments = bool(getattr(loader, "augment", False))

    def start_epoch(epoch: int) -> None:
        if augments:
            loader.augment = epoch < config.epochs - config.clean_epochs

    try:
        yield start_epoch
    finally:
        if augments:
            loader.augment = True


def check_checkpoint(state: dict, path, config: TrainConfig) -> None:
    """Raise CheckpointError unless `state` is a course_lib checkpoint of a run with `config`."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a course_lib checkpoint (format {state.get('format')!r}).")
    saved = state["config"]
    for key in ("dataset", "head", "backbone", "epochs", "batch_size", "lr", "schedule", "cooldown",
                "clean_epochs", "seed"):
        saved_value = saved.get(key, getattr(TrainConfig, key))  # old files lack new keys: the default
        if saved_value != getattr(config, key):
            raise CheckpointError(
                f"{path} belongs to a run with {key}={saved_value!r}, this run has "
                f"{key}={getattr(config, key)!r}. Use another --checkpoint path, or --resume false.")


def restore_checkpoint(state: dict, model: nn.Module, opt, sched) -> tuple[int, History]:
    """Load weights, optimizer and schedule from `state`; return (epochs done, history)."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return int(state["epoch"]), History.from_dict(state["history"])


def checkpoint_state(epoch: int, model: nn.Module, opt, sched, history: History, config: TrainConfig,
                     **extra) -> dict:
    """Everything needed to resume after `epoch` epochs (plain tensors and containers only)."""
    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "history": history.to_dict(), "config": asdict(config), **extra}


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

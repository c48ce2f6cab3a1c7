"""utils.py: the device, one training step (the life cycle of one batch), an epoch, evaluation, checkpoints."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: F401 - F.cross_entropy is yours to call
from torch import nn


def get_device() -> torch.device:
    """The fastest device here, as a torch.device: cuda, then mps (Apple), then cpu."""
    raise NotImplementedError("TODO: return torch.device('cuda') if torch.cuda.is_available(), else mps, else cpu")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction (0..1) of rows of logits (N,K) whose highest score (argmax over dim 1) is the label (N,).

    Return a Python float (`.item()`), e.g. 0.75 when 3 of 4 images are right.
    """
    raise NotImplementedError("TODO: return the fraction of rows whose argmax over classes equals the label")


def train_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
               optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    """One batch's life cycle; returns the batch's mean cross-entropy before the update, as a float.

    Six steps, one line each: X, y to(device) -> forward (logits (B,K)) -> loss (F.cross_entropy)
    -> optimizer.zero_grad() -> loss.backward() -> optimizer.step(). Return loss.item().
    """
    raise NotImplementedError("TODO: to(device), forward, loss, zero_grad, backward, step; return loss.item()")


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    device: torch.device) -> float:
    """One pass over `loader` in train mode, one train_step per batch; returns the mean loss per image.

    Put the model in train mode first (model.train()); weigh each batch's loss by its size.
    """
    raise NotImplementedError("TODO: model.train(), then train_step on every (X, y); return the mean loss")


def evaluate(model: nn.Module, loader: Iterable, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy per image, accuracy 0..1) over `loader`, in eval mode; never updates weights.

    model.eval() first, and no gradients: decorate with @torch.no_grad() or use `with torch.no_grad():`.
    """
    raise NotImplementedError("TODO: model.eval(), no_grad, sum the loss and the correct answers over all batches")


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    """Write {"model": weights, "optimizer": its state, "epoch": epoch} to `path` with torch.save.

    The weights are model.state_dict(), the optimizer's state optimizer.state_dict(); create the
    folder of `path` when it does not exist.
    """
    raise NotImplementedError("TODO: torch.save a dict with 'model', 'optimizer' and 'epoch' to path")


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> int:
    """Load what save_checkpoint wrote into `model` (and `optimizer`); returns the epoch it was saved at."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never runs code
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state["epoch"]

"""utils.py: the device, one training step (the life cycle of one batch), an epoch, evaluation, checkpoints."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def get_device() -> torch.device:
    """The fastest device here: cuda, then mps (Apple), then cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction (0..1) of rows of logits (N,K) whose highest score (argmax over dim 1) is the label (N,)."""
    predicted = logits.argmax(dim=1)  # (N,K) -> (N,): the class with the highest score
    return (predicted == labels).float().mean().item()


def train_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
               optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    """One batch's life cycle; returns the batch's mean cross-entropy before the update, as a float."""
    X, y = X.to(device), y.to(device)  # 1. move the batch where the weights are
    logits = model(X)  # 2. forward: (B,C,H,W) -> (B,K)
    loss = F.cross_entropy(logits, y)  # 3. loss: one number, the mean over the batch
    optimizer.zero_grad()  # 4. forget the previous batch's gradients (backward adds to them)
    loss.backward()  # 5. dloss/dW for every weight
    optimizer.step()  # 6. update: W <- W - lr * dloss/dW (plus momentum)
    return loss.item()


def train_one_epoch(model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer,
                    device: torch.device) -> float:
    """One pass over `loader` in train mode, one train_step per batch; returns the mean loss per image."""
    model.train()  # BatchNorm uses the batch's statistics, Dropout drops
    total, count = 0.0, 0
    for X, y in loader:
        total += train_step(model, X, y, optimizer, device) * len(y)
        count += len(y)
    return total / count


@torch.no_grad()  # no graph, no gradients: less memory, faster, and no way to change the weights
def evaluate(model: nn.Module, loader: Iterable, device: torch.device) -> tuple[float, float]:
    """(mean cross-entropy per image, accuracy 0..1) over `loader`, in eval mode; never updates weights."""
    model.eval()  # BatchNorm uses its running statistics, Dropout is off
    total_loss, correct, count = 0.0, 0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        logits = model(X)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
        count += len(y)
    return total_loss / count, correct / count


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int) -> None:
    """Write {"model": weights, "optimizer": its state, "epoch": epoch} to `path` with torch.save."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> int:
    """Load what save_checkpoint wrote into `model` (and `optimizer`); returns the epoch it was saved at."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never runs code
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    return state["epoch"]

"""Evaluation: eval mode, no gradients, never a backward pass."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn

from .device import autocast_context


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
    """Loss and accuracy of a model over a whole loader."""

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

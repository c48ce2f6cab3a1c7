"""The life cycle of one batch, written literally in one short function: the only place a batch is trained on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .device import autocast_context


@dataclass
class StepResult:
    """What one training step reports (tensors: reading them waits for the device)."""

    loss: torch.Tensor  # the single final error value, detached
    correct: torch.Tensor  # how many argmax predictions were right
    count: int  # batch size


def train_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], loss_fn: Callable,
               optimizer: torch.optim.Optimizer, device: torch.device, bf16: bool = False,
               channels_last: bool = False) -> StepResult:
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

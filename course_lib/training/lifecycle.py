"""The life cycle of one batch, recorded step by step (what week 3's stepper widget shows).

`record_life_cycle` performs exactly the steps of `training.train_step` with plain SGD
(to(device) -> forward -> error -> loss -> zero_grad + backward -> update -> argmax) on a copy of the
model, and keeps a CPU copy of every intermediate tensor so a slider can walk through them.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

STEPS = ("to(device)", "forward", "error", "loss", "backward", "update", "argmax")


@dataclass
class StepRecord:
    """One step of the life cycle: its formula, what it produced (CPU copies) and a text summary."""

    name: str
    formula: str
    tensors: dict[str, torch.Tensor]
    lines: list[str] = field(default_factory=list)


@dataclass
class LifeCycle:
    """Everything one training step did to one batch."""

    steps: list[StepRecord]
    model_after: nn.Module  # the copy of the model after the update
    X: torch.Tensor  # (N,C,H,W) on the CPU
    y_actual: torch.Tensor  # (N,)
    per_sample_loss: torch.Tensor  # (N,) cross-entropy of each image before the update
    per_sample_loss_after: torch.Tensor  # (N,) the same images after the update
    y_pred: torch.Tensor  # argmax before the update (what train_step reports)
    y_pred_after: torch.Tensor

    @property
    def loss_before(self) -> float:
        return float(self.per_sample_loss.mean())

    @property
    def loss_after(self) -> float:
        return float(self.per_sample_loss_after.mean())

    def worst(self, k: int = 8) -> torch.Tensor:
        """Indices of the k images with the largest loss: the ones that push the weights hardest."""
        return self.per_sample_loss.argsort(descending=True)[:k]


def _describe(name: str, t: torch.Tensor) -> str:
    return f"{name}: shape {tuple(t.shape)}, {str(t.dtype).replace('torch.', '')}, on {t.device}"


def record_life_cycle(model: nn.Module, batch, lr: float, device: torch.device) -> LifeCycle:
    """Run one SGD step (learning rate `lr`) on a copy of `model`, recording every step."""
    model = copy.deepcopy(model).to(device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    W_before = {n: p.detach().clone() for n, p in model.named_parameters()}
    steps = []
    X, y_actual = batch
    # 1. send the batch to the device
    X, y_actual = X.to(device), y_actual.to(device)
    steps.append(StepRecord(STEPS[0], "X, y_actual = X.to(device), y_actual.to(device)",
                            {"X": X.cpu(), "y_actual": y_actual.cpu()},
                            [_describe("X", X), _describe("y_actual", y_actual),
                             f"weights on {next(model.parameters()).device}: data and weights must meet"]))
    # 2. forward: one row of class scores (logits) per image
    y_out = model(X)
    y_out.retain_grad()  # keep dLoss/dy_out to show it equals the error / N
    steps.append(StepRecord(STEPS[1], "y_out = f(X, W)", {"y_out": y_out.detach().cpu()},
                            [_describe("y_out", y_out), f"first row: {y_out[0].detach().cpu().numpy().round(2)}"]))
    # 3. error: predicted probabilities minus the one-hot actual class
    num_classes = y_out.shape[1]
    probs = y_out.detach().softmax(1)
    error = probs - F.one_hot(y_actual, num_classes)
    steps.append(StepRecord(STEPS[2], "error = softmax(y_out) - onehot(y_actual)",
                            {"error": error.cpu(), "probs": probs.cpu()},
                            [_describe("error", error),
                             f"image 0 (class {int(y_actual[0])}): {error[0].cpu().numpy().round(2)}",
                             "each row sums to 0; the actual class gets p - 1 (negative)"]))
    # 4. loss: the error reduced to one number (mean cross-entropy)
    per_sample = F.cross_entropy(y_out, y_actual, reduction="none")
    loss = per_sample.mean()
    steps.append(StepRecord(STEPS[3], "E = mean_i -log softmax(y_out_i)[y_actual_i]",
                            {"per_sample_loss": per_sample.detach().cpu(), "loss": loss.detach().cpu()},
                            [f"loss E = {loss.item():.4f} (one number, a 0-d tensor on {loss.device})",
                             f"per-image losses from {per_sample.min().item():.3f} to {per_sample.max().item():.3f}",
                             f"chance level: log({num_classes}) = {torch.log(torch.tensor(num_classes)).item():.3f}"]))
    # 5. backward: dE/dW for every weight (after forgetting the previous batch's gradients)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grads = {n: p.grad.detach().cpu().clone() for n, p in model.named_parameters()}
    dy = y_out.grad.detach().cpu()
    steps.append(StepRecord(STEPS[4], "dE/dW for all W (loss.backward())", {"dE/dy_out": dy, **grads},
                            [f"{len(grads)} gradient tensors, one per weight tensor, same shapes",
                             f"dE/dy_out == error / N: {torch.allclose(dy, error.cpu() / len(X), atol=1e-6)}"]))
    # 6. update: W <- W - lr * dE/dW
    optimizer.step()
    deltas = {n: (p.detach() - W_before[n]).cpu() for n, p in model.named_parameters()}
    biggest = max(deltas, key=lambda n: float(deltas[n].abs().max()))
    steps.append(StepRecord(STEPS[5], f"W = W - {lr} * dE/dW", deltas,
                            [f"largest change: {biggest}, {float(deltas[biggest].abs().max()):.2e}",
                             f"every change equals -lr * grad: "
                             f"{all(torch.allclose(deltas[n], -lr * grads[n], atol=1e-6) for n in grads)}"]))
    # 7. argmax: each row of scores -> the index of the predicted class
    y_pred = y_out.detach().argmax(dim=1)
    after = copy.deepcopy(model)  # measure the effect without touching model_after's BN statistics
    with torch.no_grad():
        y_out_after = after(X)
    loss_after = F.cross_entropy(y_out_after, y_actual, reduction="none").cpu()
    y_pred_after = y_out_after.argmax(1).cpu()
    steps.append(StepRecord(STEPS[6], "y_pred = y_out.argmax(dim=1)",
                            {"y_pred": y_pred.cpu(), "y_pred_after": y_pred_after},
                            [f"right: {(y_pred == y_actual).sum().item()} of {len(X)} before the update, "
                             f"{(y_pred_after == y_actual.cpu()).sum().item()} after it",
                             f"loss on this batch: {loss.item():.4f} before, {loss_after.mean().item():.4f} after"]))
    return LifeCycle(steps, model, X.cpu(), y_actual.cpu(), per_sample.detach().cpu(), loss_after,
                     y_pred.cpu(), y_pred_after)

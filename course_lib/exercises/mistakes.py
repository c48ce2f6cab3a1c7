"""Common mistakes, made on purpose: each function runs the broken variant next to the right one and
returns what happened (numbers, not prose), for the "Break it" exercises.

    forgotten_255(images, spec)           normalize without dividing by 255
    forgotten_relu_mask(X, y)             backpropagation through ReLU without its mask, vs autograd
    forgotten_zero_grad(model, batches)   training steps without optimizer.zero_grad()
    softmax_over_batch(y_out, y)          softmax over dim=0 (the images) instead of dim=1 (the classes)
    evaluated_in_train_mode(model, X)     evaluation with BatchNorm left in train mode
Every function works on copies: the caller's model and tensors are left as they were.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetSpec, normalize


@dataclass
class NormalizeStats:
    right_mean: float
    right_std: float
    right_max: float
    broken_mean: float  # (x - mean) / std with x in 0..255 instead of 0..1
    broken_std: float
    broken_max: float


def forgotten_255(images: torch.Tensor, spec: DatasetSpec) -> NormalizeStats:
    """Statistics of uint8 `images` normalized right ((x/255 - mean)/std) and without the /255."""
    right = normalize(images, spec)
    mean = torch.tensor(spec.mean).view(1, -1, 1, 1)
    std = torch.tensor(spec.std).view(1, -1, 1, 1)
    broken = (images.float() - mean) / std  # the mistake: pixels still in 0..255
    return NormalizeStats(right.mean().item(), right.std().item(), right.max().item(),
                          broken.mean().item(), broken.std().item(), broken.max().item())


def two_layer_gradients(X: torch.Tensor, y: torch.Tensor, W: dict[str, torch.Tensor],
                        relu_mask: bool = True) -> dict[str, torch.Tensor]:
    """Hand-derived gradients of the mean cross-entropy of max(X W1^T + b1, 0) W2^T + b2 (week 2's net);
    `relu_mask=False` forgets that ReLU passes the gradient only where z > 0."""
    X = X.flatten(1)  # (N,C,H,W) -> (N,D)
    z = X @ W["W1"].T + W["b1"]
    h = z.clamp(min=0)
    y_out = h @ W["W2"].T + W["b2"]
    delta = (y_out.softmax(1) - F.one_hot(y, y_out.shape[1])) / len(X)  # dE/dy_out, (N,K)
    dh = delta @ W["W2"]
    dz = dh * (z > 0) if relu_mask else dh
    return {"W1": dz.T @ X, "b1": dz.sum(0), "W2": delta.T @ h, "b2": delta.sum(0)}


def forgotten_relu_mask(X: torch.Tensor, y: torch.Tensor, hidden: int = 64, num_classes: int = 10,
                        seed: int = 0) -> dict[str, float]:
    """{weight name: max |by hand without the ReLU mask - autograd|} for week 2's network (random weights)."""
    g = torch.Generator().manual_seed(seed)
    d, k = X[0].numel(), num_classes
    W = {"W1": torch.randn(hidden, d, generator=g) * (2 / d) ** 0.5, "b1": torch.randn(hidden, generator=g) * 0.1,
         "W2": torch.randn(k, hidden, generator=g) * (1 / hidden) ** 0.5, "b2": torch.zeros(k)}
    auto = {n: w.clone().requires_grad_(True) for n, w in W.items()}
    h = (X.flatten(1) @ auto["W1"].T + auto["b1"]).clamp(min=0)
    F.cross_entropy(h @ auto["W2"].T + auto["b2"], y).backward()
    broken = two_layer_gradients(X, y, W, relu_mask=False)
    return {n: (broken[n] - auto[n].grad).abs().max().item() for n in W}


@dataclass
class ZeroGradRun:
    losses_right: list[float]  # loss of each step with zero_grad
    losses_broken: list[float]  # the same steps without it
    grad_norm_right: list[float]  # ||W.grad|| used by each step, with zero_grad
    grad_norm_broken: list[float]  # ... without it
    grad_is_running_sum: bool  # without zero_grad, .grad == the sum of all gradients so far (checked)
    weights_changed: bool  # the broken run's weights moved at every step


def _grad_norm(model: nn.Module) -> float:
    return float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters() if p.grad is not None)))


def forgotten_zero_grad(model: nn.Module, batches: list, lr: float = 0.1) -> ZeroGradRun:
    """Plain SGD over `batches` on two copies of `model`: with and without zero_grad before backward."""
    runs = {}
    for broken in (False, True):
        net = copy.deepcopy(model).train()
        opt = torch.optim.SGD(net.parameters(), lr=lr)
        running = [torch.zeros_like(p) for p in net.parameters()]
        losses, norms, is_sum, moved = [], [], True, True
        for X, y in batches:
            loss = F.cross_entropy(net(X), y)
            fresh = torch.autograd.grad(loss, list(net.parameters()), retain_graph=True)  # this batch alone
            if not broken:
                opt.zero_grad()
            loss.backward()
            running = [r + f for r, f in zip(running, fresh)]
            is_sum = is_sum and all(torch.allclose(p.grad, r, atol=1e-5, rtol=1e-4)
                                    for p, r in zip(net.parameters(), running))
            before = [p.detach().clone() for p in net.parameters()]
            opt.step()
            moved = moved and any(not torch.equal(b, p) for b, p in zip(before, net.parameters()))
            losses.append(loss.item())
            norms.append(_grad_norm(net))
        runs[broken] = (losses, norms, is_sum, moved)
    (l_ok, n_ok, _, _), (l_bad, n_bad, is_sum, moved) = runs[False], runs[True]
    return ZeroGradRun(l_ok, l_bad, n_ok, n_bad, is_sum and len(batches) > 1, moved)


@dataclass
class SoftmaxDimRun:
    row_sums: torch.Tensor  # (N,) sum over the classes of each image's "probabilities" (dim=0 softmax)
    column_sums: torch.Tensor  # (K,) sum over the images of each class
    loss_alone: float  # image 0's loss with the wrong softmax, in a batch of its first `small` images
    loss_in_batch: float  # the same image's loss in the whole batch
    loss_right: float  # image 0's loss with softmax over dim=1 (the same in any batch)


def softmax_over_batch(y_out: torch.Tensor, y: torch.Tensor, small: int = 4) -> SoftmaxDimRun:
    """What softmax(dim=0) does to scores (N,K): normalizes each class over the images."""
    y_out = y_out.detach().float()
    p = y_out.softmax(dim=0)  # the mistake: over the images, not the classes
    p_small = y_out[:small].softmax(dim=0)
    return SoftmaxDimRun(p.sum(1), p.sum(0), -p_small[0, y[0]].log().item(), -p[0, y[0]].log().item(),
                         F.cross_entropy(y_out[:1], y[:1]).item())


@dataclass
class TrainModeEval:
    max_logit_change: float  # the same images' logits: alone in a small batch vs inside a larger one
    running_mean_change: float  # how far BatchNorm's running means moved by "evaluating" in train mode
    eval_mode_change: float  # the same comparison in eval mode (0: each image is scored on its own)


@torch.no_grad()
def evaluated_in_train_mode(model: nn.Module, X: torch.Tensor, small: int = 8) -> TrainModeEval:
    """Score the first `small` images of `X` alone and inside all of `X`, in train mode and in eval mode."""
    net = copy.deepcopy(model)
    bns = [m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    before = [m.running_mean.clone() for m in bns]
    net.train()  # the mistake: BatchNorm normalizes with this batch's statistics and updates its running ones
    change = (net(X[:small]) - net(X)[:small]).abs().max().item()
    moved = max(((m.running_mean - b).abs().max().item() for m, b in zip(bns, before)), default=0.0)
    net.eval()
    eval_change = (net(X[:small]) - net(X)[:small]).abs().max().item()
    return TrainModeEval(change, moved, eval_change)

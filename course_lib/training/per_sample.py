"""Per-image gradients: how hard each image of a batch pushes the weights, and how that relates to its loss.

The batch loss is the mean of the per-image losses, E = (1/N) sum_i l_i, so by linearity
dE/dW = (1/N) sum_i dl_i/dW exactly: image i contributes dl_i/dW / N to the update. `per_sample_gradients`
computes every dl_i/dW (one backward pass per image through the batch's graph, so a BatchNorm layer in
train mode keeps the batch statistics the real step used); `per_sample_grad_norms` gives their sizes
||dl_i/dW||, the honest ranking of "the images that hurt most". `rank_correlation` (Spearman) says how
well the per-image losses predict that ranking.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def per_sample_gradients(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """{parameter name: (N, *shape)}: the gradient of each image's cross-entropy dl_i/dW.

    The model runs in the mode it is in (train mode: BatchNorm uses this batch's statistics, as in a
    training step); their mean over the N images equals the gradient of the mean loss.
    """
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    per_image = F.cross_entropy(model(X), y, reduction="none")  # (N,) one loss per image
    rows: dict[str, list[torch.Tensor]] = {n: [] for n in params}
    for i in range(len(per_image)):
        grads = torch.autograd.grad(per_image[i], list(params.values()), retain_graph=i < len(per_image) - 1,
                                    allow_unused=True)
        for (name, p), g in zip(params.items(), grads):
            rows[name].append(torch.zeros_like(p) if g is None else g.detach())
    return {n: torch.stack(gs) for n, gs in rows.items()}  # N x (shape) -> (N, *shape)


def flat_norms(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N,) L2 norm of each image's gradient over all parameters together."""
    squares = [g.flatten(1).pow(2).sum(1) for g in grads.values()]  # (N, *shape) -> (N, numel) -> (N,)
    return torch.stack(squares).sum(0).sqrt()


def per_sample_grad_norms(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) ||dl_i/dW|| for each image of the batch (all parameters together)."""
    return flat_norms(per_sample_gradients(model, X, y))


def ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of a 1-D tensor (smallest = 1); tied values share the average of their ranks."""
    values = values.detach().double().flatten()
    order = values.argsort()
    r = torch.empty_like(values)
    r[order] = torch.arange(1, len(values) + 1, dtype=torch.float64)
    for v in values.unique():  # ties: replace by the mean rank (rare with float losses)
        same = values == v
        if same.sum() > 1:
            r[same] = r[same].mean()
    return r


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two 1-D tensors: the Pearson correlation of their ranks, in [-1, 1]."""
    if a.numel() != b.numel() or a.numel() < 2:
        raise ValueError(f"need two 1-D tensors of the same length >= 2, got {a.numel()} and {b.numel()}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def top_k_overlap(a: torch.Tensor, b: torch.Tensor, k: int) -> int:
    """How many of the k largest entries of `a` are also among the k largest of `b`."""
    top_a = set(a.argsort(descending=True)[:k].tolist())
    return len(top_a & set(b.argsort(descending=True)[:k].tolist()))

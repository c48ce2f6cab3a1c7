"""Week 5: "is a 1x1 conv a superset of FC?" settled by conversions between heads and one experiment.

    fc_as_conv1x1(fc)                  an FC layer as a 1x1 conv: the same FC applied at every position
    gap_head_as_flatten_fc(head, hw)   GAP->FC (or 1x1conv->GAP) as a Flatten->FC with W/(H*W) tiled:
                                       GAP heads are a subset of Flatten->FC on a fixed H x W map
    flatten_fc_as_conv(head)           Flatten->FC as an H x W conv: slid over a larger map, a score map
    position_task / position_experiment   a target that depends on *where* a feature is: Flatten->FC
                                       fits it, GAP heads cannot (they ignore where)
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from .heads import Conv1x1Gap, FlattenFc, GapFc, make_head


@torch.no_grad()
def fc_as_conv1x1(fc: nn.Linear) -> nn.Conv2d:
    """A 1x1 conv with `fc`'s weights (K,C) -> (K,C,1,1): on an H x W map it applies `fc` at every position."""
    conv = nn.Conv2d(fc.in_features, fc.out_features, kernel_size=1, bias=fc.bias is not None)
    conv.weight.copy_(fc.weight.view(*fc.weight.shape, 1, 1))
    if fc.bias is not None:
        conv.bias.copy_(fc.bias)
    return conv.to(fc.weight.device)


def gap_weights(head: GapFc | Conv1x1Gap) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight (K,C), bias (K,)) of a GAP head, whichever of the two it is."""
    if isinstance(head, GapFc):
        return head.fc.weight, head.fc.bias
    if isinstance(head, Conv1x1Gap):
        return head.conv.weight.flatten(1), head.conv.bias  # (K,C,1,1) -> (K,C)
    raise TypeError(f"expected a gap_fc or conv1x1_gap head, got {type(head).__name__}")


def tile_gap_weights(weight: torch.Tensor, bias: torch.Tensor,
                     feature_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten->FC weights that compute GAP->FC: every position gets W/(H*W), in flatten's (C,H,W) order."""
    h, w = feature_hw
    k, c = weight.shape
    tiled = (weight / (h * w)).view(k, c, 1, 1).expand(k, c, h, w)  # (K,C) -> (K,C,H,W): the same at each position
    return tiled.reshape(k, c * h * w), bias.clone()  # (K,C,H,W) -> (K, C*H*W), flatten's order


@torch.no_grad()
def gap_head_as_flatten_fc(head: GapFc | Conv1x1Gap, feature_hw: tuple[int, int]) -> FlattenFc:
    """A `flatten_fc` head giving exactly the logits of the GAP head `head` on H x W maps."""
    weight, bias = gap_weights(head)
    flat = make_head("flatten_fc", head.in_channels, head.num_classes, feature_hw)
    tiled_w, tiled_b = tile_gap_weights(weight, bias, feature_hw)
    flat.fc.weight.copy_(tiled_w)
    flat.fc.bias.copy_(tiled_b)
    return flat.to(weight.device)


@torch.no_grad()
def flatten_fc_as_conv(head: FlattenFc) -> nn.Conv2d:
    """Flatten->FC as an H x W conv without padding: (K, C*H*W) -> (K, C, H, W) (the FC-to-conv conversion)."""
    h, w = head.feature_hw
    conv = nn.Conv2d(head.in_channels, head.num_classes, kernel_size=(h, w))
    conv.weight.copy_(head.fc.weight.view(head.num_classes, head.in_channels, h, w))
    conv.bias.copy_(head.fc.bias)
    return conv.to(head.fc.weight.device)


# ---------------------------------------------------------------- a position-dependent target

def position_task(n: int, channels: int = 16, feature_hw: tuple[int, int] = (7, 7), strength: float = 3.0,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic feature maps (n, C, H, W): post-ReLU noise plus one "object" (a fixed C-vector) at a random
    position; the label is the object's column (W classes). The same object everywhere: only *where* differs."""
    gen = torch.Generator().manual_seed(seed)
    h, w = feature_hw
    maps = torch.relu(torch.randn(n, channels, h, w, generator=gen)) * 0.5
    obj = torch.rand(channels, generator=torch.Generator().manual_seed(1234)) + 0.5  # the same object in every task
    rows = torch.randint(0, h, (n,), generator=gen)
    cols = torch.randint(0, w, (n,), generator=gen)
    maps[torch.arange(n), :, rows, cols] += strength * obj  # one position per map
    return maps, cols


def fit_head(head: nn.Module, maps: torch.Tensor, labels: torch.Tensor, steps: int = 150, lr: float = 0.02,
             seed: int = 0) -> nn.Module:
    """Train `head` on (maps, labels) with full-batch Adam and cross-entropy; returns it in eval mode."""
    torch.manual_seed(seed)
    for p in head.parameters():  # a fresh start from the same seed for every head
        if p.dim() > 1:
            nn.init.kaiming_uniform_(p, a=5 ** 0.5)
        else:
            nn.init.zeros_(p)
    head.train()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(head(maps), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()


@torch.no_grad()
def accuracy(head: nn.Module, maps: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of maps whose argmax logit is the label."""
    return float((head(maps).argmax(1) == labels).float().mean())


@lru_cache(maxsize=4)
def position_experiment(n_train: int = 1024, n_test: int = 1024, channels: int = 16,
                        steps: int = 150) -> dict[str, dict[str, float]]:
    """Every registered head trained on the position task: {head: {"train": acc, "test": acc}} (cached)."""
    from .heads import HEADS

    x_train, y_train = position_task(n_train, channels, seed=0)
    x_test, y_test = position_task(n_test, channels, seed=1)
    num_classes = x_train.shape[3]
    result = {}
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
        for name in HEADS:
            head = fit_head(make_head(name, channels, num_classes, tuple(x_train.shape[2:])), x_train, y_train,
                            steps=steps)
            result[name] = {"train": accuracy(head, x_train, y_train), "test": accuracy(head, x_test, y_test)}
    return result


@torch.no_grad()
def permute_positions(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The same maps with their H*W positions shuffled (one shuffle for all): what GAP cannot tell apart."""
    n, c, h, w = maps.shape
    order = torch.randperm(h * w, generator=torch.Generator().manual_seed(seed))
    return maps.flatten(2)[:, :, order].view(n, c, h, w)  # (N,C,H,W) -> (N,C,H*W) -> shuffled -> (N,C,H,W)

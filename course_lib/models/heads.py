"""Classifier heads: one factory, one contract.

`make_head(name, in_channels, num_classes, feature_hw=None)` returns a module mapping a feature map
(N, C, H, W) -> logits (N, num_classes), always. The four heads compared in the final-layer lesson:

    gap_fc              GAP -> Linear(C, K)                         C*K + K parameters
    conv1x1_gap         Conv1x1(C, K) -> GAP                        C*K + K (same as gap_fc!)
    flatten_fc          Flatten -> Linear(C*H*W, K)                 C*H*W*K + K
    conv1x1_flatten_fc  Conv1x1(C, r) -> Flatten -> Linear(r*H*W, K)

With shared weights gap_fc and conv1x1_gap give identical logits (averaging and a linear map
commute); the 1x1 conv's output before pooling is the Class Activation Map (Zhou et al. 2016).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..errors import unknown_name


class Head(nn.Module):
    """Base head: remembers its contract and checks the input channels with a clear error."""

    name = "head"

    def __init__(self, in_channels: int, num_classes: int, feature_hw: tuple[int, int] | None = None):
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise ValueError(f"{self.name}: in_channels and num_classes must be >= 1, "
                             f"got {in_channels} and {num_classes}")
        self.in_channels, self.num_classes = in_channels, num_classes
        self.feature_hw = tuple(feature_hw) if feature_hw is not None else None

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"head {self.name!r} expects a feature map (N, {self.in_channels}, H, W), got shape "
                f"{tuple(x.shape)}. Build the head with in_channels={x.shape[1] if x.ndim == 4 else '?'} "
                "(the backbone's out_channels)."
            )
        if self.feature_hw is not None and tuple(x.shape[2:]) != self.feature_hw:
            raise ValueError(
                f"head {self.name!r} was built for {self.feature_hw[0]}x{self.feature_hw[1]} feature "
                f"maps but got {x.shape[2]}x{x.shape[3]}: its Linear layer size depends on H*W. "
                f"Rebuild it with feature_hw={tuple(x.shape[2:])} or use a GAP head."
            )


class GapFc(Head):
    """Global average pooling, then one fully connected layer."""

    name = "gap_fc"

    def __init__(self, in_channels, num_classes, feature_hw=None):
        super().__init__(in_channels, num_classes, None)  # works at any H, W
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        pooled = x.mean(dim=(2, 3))  # (N,C,H,W) -> (N,C)
        return self.fc(pooled)  # (N,C) -> (N,K)


class Conv1x1Gap(Head):
    """A 1x1 convolution to one map per class, then global average pooling."""

    name = "conv1x1_gap"

    def __init__(self, in_channels, num_classes, feature_hw=None):
        super().__init__(in_channels, num_classes, None)
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-class score maps before pooling (the CAM): (N,C,H,W) -> (N,K,H,W)."""
        self.check_input(x)
        return self.conv(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_maps(x).mean(dim=(2, 3))  # (N,K,H,W) -> (N,K)


def _need_hw(name: str, feature_hw) -> tuple[int, int]:
    if feature_hw is None:
        raise ValueError(f"head {name!r} flattens the feature map, so it needs feature_hw=(H, W) "
                         "(build_model passes the backbone's output size for you)")
    return tuple(int(v) for v in feature_hw)


class FlattenFc(Head):
    """Flatten every position of every channel into one vector, then one fully connected layer."""

    name = "flatten_fc"

    def __init__(self, in_channels, num_classes, feature_hw=None):
        h, w = _need_hw(self.name, feature_hw)
        super().__init__(in_channels, num_classes, (h, w))
        self.fc = nn.Linear(in_channels * h * w, num_classes)  # size derived, never hard-coded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.fc(x.flatten(1))  # (N,C,H,W) -> (N,C*H*W) -> (N,K)


class Conv1x1FlattenFc(Head):
    """Squeeze channels with a 1x1 conv first, so the flattened vector is smaller."""

    name = "conv1x1_flatten_fc"

    def __init__(self, in_channels, num_classes, feature_hw=None, reduced_channels: int = 16):
        h, w = _need_hw(self.name, feature_hw)
        super().__init__(in_channels, num_classes, (h, w))
        self.reduce = nn.Conv2d(in_channels, reduced_channels, kernel_size=1)
        self.fc = nn.Linear(reduced_channels * h * w, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        squeezed = torch.relu(self.reduce(x))  # (N,C,H,W) -> (N,r,H,W)
        return self.fc(squeezed.flatten(1))  # (N,r,H,W) -> (N,r*H*W) -> (N,K)


HEADS: dict[str, Callable[..., Head]] = {
    cls.name: cls for cls in (GapFc, Conv1x1Gap, FlattenFc, Conv1x1FlattenFc)
}


def make_head(name: str, in_channels: int, num_classes: int,
              feature_hw: tuple[int, int] | None = None, **kwargs) -> Head:
    """Build the head `name`: (N, in_channels, H, W) -> (N, num_classes)."""
    if name not in HEADS:
        raise unknown_name("head", name, HEADS)
    return HEADS[name](in_channels, num_classes, feature_hw, **kwargs)


@torch.no_grad()
def share_fc_weights(gap_fc: GapFc, conv1x1_gap: Conv1x1Gap) -> None:
    """Copy gap_fc's Linear weights into conv1x1_gap's 1x1 conv: (K,C) -> (K,C,1,1)."""
    conv1x1_gap.conv.weight.copy_(gap_fc.fc.weight.view(*gap_fc.fc.weight.shape, 1, 1))
    conv1x1_gap.conv.bias.copy_(gap_fc.fc.bias)

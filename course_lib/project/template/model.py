"""model.py: a small conv backbone (images -> feature maps) followed by a swappable head (-> class scores).

    net = Net(in_channels=1, num_classes=10, image_size=28, head="gap_fc")
    images (N,1,28,28) --backbone--> features (N,64,3,3) --head--> logits (N,10)

Measure the head's input size with a dry run of the backbone (`feature_shape`), never type it in:
the same code must serve 28x28 greyscale digits and 32x32 colour CIFAR images.
"""
from __future__ import annotations

import torch
from torch import nn

HEADS = ("gap_fc", "flatten_fc")


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """conv 3x3 (padding 1 keeps H,W) -> BatchNorm -> ReLU -> 2x2 max-pool (halves H,W)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),  # no bias: BatchNorm adds its own
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


def make_backbone(in_channels: int, widths: tuple[int, ...] = (16, 32, 64)) -> nn.Sequential:
    """One conv_block per width: (N,in_channels,H,W) -> (N,widths[-1],H/8,W/8) for three blocks."""
    raise NotImplementedError("TODO: chain conv_block(in_channels, 16), conv_block(16, 32), ... in an nn.Sequential")


@torch.no_grad()
def feature_shape(backbone: nn.Module, in_channels: int, image_size: int) -> tuple[int, int, int]:
    """(C, H, W) of the backbone's output for one image, measured by a dry run: a tuple of 3 ints.

    Run it on torch.zeros(1, in_channels, image_size, image_size) in eval mode (in train mode
    BatchNorm would update its running statistics with that fake image), then restore the mode.
    """
    raise NotImplementedError("TODO: return the (C, H, W) of backbone(one blank image), measured, not typed")


def make_head(name: str, channels: int, num_classes: int, feature_hw: tuple[int, int]) -> nn.Module:
    """Features (N,channels,H,W) -> logits (N,num_classes); `name` is one of HEADS.

    "gap_fc": average each feature map to one number (nn.AdaptiveAvgPool2d(1)), flatten, nn.Linear.
    "flatten_fc": flatten (N,C,H,W) -> (N,C*H*W), then nn.Linear. Another name: raise ValueError
    that lists the valid heads.
    """
    raise NotImplementedError("TODO: return the head module for 'gap_fc' or 'flatten_fc', else raise ValueError")


class Net(nn.Module):
    """backbone then head: images (N,in_channels,image_size,image_size) -> logits (N,num_classes)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 head: str = "gap_fc"):
        super().__init__()
        self.backbone = make_backbone(in_channels)
        c, h, w = feature_shape(self.backbone, in_channels, image_size)  # e.g. (64, 3, 3) for MNIST
        self.head = make_head(head, c, num_classes, (h, w))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)  # (N,C,H,W) images -> (N,64,H/8,W/8) features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes), float32: the head applied to the features."""
        raise NotImplementedError("TODO: return the head applied to forward_features(x)")

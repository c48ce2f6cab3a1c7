"""model.py: a small conv backbone (images -> feature maps) followed by a swappable head (-> class scores).

    net = Net(in_channels=1, num_classes=10, image_size=28, head="gap_fc")
    images (N,1,28,28) --backbone--> features (N,64,3,3) --head--> logits (N,10)

The head's input size is measured by a dry run of the backbone (`feature_shape`), never typed in,
so the same code serves 28x28 greyscale digits and 32x32 colour CIFAR images.
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
    blocks, c = [], in_channels
    for width in widths:
        blocks.append(conv_block(c, width))
        c = width
    return nn.Sequential(*blocks)


@torch.no_grad()
def feature_shape(backbone: nn.Module, in_channels: int, image_size: int) -> tuple[int, int, int]:
    """(C, H, W) of the backbone's output for one image, measured by a dry run."""
    was_training = backbone.training
    backbone.eval()  # in train mode BatchNorm would update its running statistics with this fake image
    out = backbone(torch.zeros(1, in_channels, image_size, image_size))
    backbone.train(was_training)
    return tuple(out.shape[1:])


def make_head(name: str, channels: int, num_classes: int, feature_hw: tuple[int, int]) -> nn.Module:
    """Features (N,channels,H,W) -> logits (N,num_classes); `name` is one of HEADS."""
    h, w = feature_hw
    if name == "gap_fc":  # average each feature map to one number, then one linear layer
        return nn.Sequential(nn.AdaptiveAvgPool2d(1),  # (N,C,H,W) -> (N,C,1,1)
                             nn.Flatten(),  # (N,C,1,1) -> (N,C)
                             nn.Linear(channels, num_classes))  # C*K weights + K biases
    if name == "flatten_fc":  # keep every position: one weight per (channel, row, column, class)
        return nn.Sequential(nn.Flatten(),  # (N,C,H,W) -> (N,C*H*W)
                             nn.Linear(channels * h * w, num_classes))  # C*H*W*K + K
    raise ValueError(f"unknown head {name!r}; valid heads: {', '.join(HEADS)}")


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
        return self.head(self.forward_features(x))  # -> (N,num_classes) logits

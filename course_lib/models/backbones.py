"""Backbones: plain conv stacks (conv3x3 -> BatchNorm -> ReLU blocks, max-pool between stages), so every
layer is easy to inspect for the "successive distillation" lesson. A backbone's `forward_features` maps
images (N,C,H,W) to a feature map that a head (heads.py) turns into logits.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..errors import unknown_name


class ConvStack(nn.Module):
    """Stages of conv3x3-BN-ReLU blocks; a 2x2 max-pool after every stage but (optionally) the last."""

    def __init__(self, in_channels: int, stages: Sequence[Sequence[int]], pool_after_last: bool = False):
        super().__init__()
        self.in_channels = in_channels
        layers: dict[str, nn.Module] = {}
        channels = in_channels
        for s, widths in enumerate(stages, start=1):
            for b, width in enumerate(widths, start=1):
                layers[f"conv{s}_{b}"] = nn.Sequential(
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                )
                channels = width
            if s < len(stages) or pool_after_last:
                layers[f"pool{s}"] = nn.MaxPool2d(2)
        self.layers = nn.Sequential()
        for name, module in layers.items():
            self.layers.add_module(name, module)
        self.out_channels = channels

    def check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"this backbone expects images (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}. "
                "Check the dataset (MNIST-like: 1 channel, CIFAR: 3) or add a batch dimension "
                "with x.unsqueeze(0)."
            )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.layers(x)

    forward = forward_features

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The output of every conv block and pool, in order: {'conv1_1': (N,C,H,W), ...}."""
        self.check_input(x)
        out = {}
        for name, layer in self.layers.named_children():
            x = layer(x)
            out[name] = x
        return out


def receptive_fields(backbone: ConvStack) -> list[tuple[str, int, int]]:
    """(layer name, receptive field in input pixels, jump/stride) after each layer of a ConvStack."""
    rf, jump, result = 1, 1, []
    for name, layer in backbone.layers.named_children():
        module = layer[0] if isinstance(layer, nn.Sequential) else layer
        k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
        s = module.stride if isinstance(module.stride, int) else module.stride[0]
        rf += (k - 1) * jump  # each step of a kernel reaches `jump` input pixels further
        jump *= s
        result.append((name, rf, jump))
    return result


BACKBONES = {
    # name: (stages, pool_after_last); in_channels comes from the dataset
    "mnist_small": (((8, 8), (12, 12), (12, 14, 16)), False),  # 28x28 -> 16x7x7, 7,966 params with gap_fc
    "cifar_net": (((32, 32), (64, 64), (128, 128)), False),  # 32x32 -> 128x8x8
    "vgg_tiny224": (((16,), (32,), (64,), (128,), (256, 512)), True),  # 224x224 -> 512x7x7
}


def make_backbone(name: str, in_channels: int) -> ConvStack:
    """Build the registered backbone `name` for images with `in_channels` channels."""
    if name not in BACKBONES:
        raise unknown_name("backbone", name, BACKBONES)
    stages, pool_last = BACKBONES[name]
    return ConvStack(in_channels, stages, pool_last)


@torch.no_grad()
def feature_shape(backbone: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, H, W) of the backbone's features for one input of `input_shape`, by a dry run."""
    was_training = backbone.training
    backbone.eval()
    out = backbone.forward_features(torch.zeros(1, *input_shape))
    backbone.train(was_training)
    return tuple(out.shape[1:])

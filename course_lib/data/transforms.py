"""What happens to pixels: normalization with a data set's statistics, and batch-wise augmentation."""
from __future__ import annotations

import torch

from .registry import DatasetSpec


def compute_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N,C,H,W), as pixel/255."""
    x = images.double().div_(255).transpose(0, 1).reshape(images.shape[1], -1)  # (C, N*H*W)
    return tuple(x.mean(1).tolist()), tuple(x.std(1, unbiased=False).tolist())


def normalize(images_uint8: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N,C,H,W) -> float32 normalized with the data set's mean/std (`spec`: its DatasetSpec)."""
    mean = torch.tensor(spec.mean, device=images_uint8.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=images_uint8.device).view(1, -1, 1, 1)
    return (images_uint8.float().div(255) - mean) / std


def denormalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Inverse of `normalize`, giving floats in [0, 1] for display."""
    mean = torch.tensor(spec.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, -1, 1, 1)
    return (x * std + mean).clamp(0, 1)


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float, shift: float,
                  flip: bool = False) -> torch.Tensor:
    """Batch-wise augmentation: each image rotated by up to `degrees`, moved by up to `shift` of
    its size (and mirrored half of the time when `flip`), in one grid_sample call. The loaders take
    the strength from the dataset's DatasetSpec (augment_degrees, augment_shift)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * degrees * torch.pi / 180
    move = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2  # grid units span 2
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos * mirror, -sin, move[:, 0]], 1),
                         torch.stack([sin * mirror, cos, move[:, 1]], 1)], 1)  # (N,2,3)
    grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)

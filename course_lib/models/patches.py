"""What each channel of each layer looks for: the input patches that activate it most (Zeiler & Fergus 2014).

For every layer and channel, each image's strongest unit (its max over the map) is found; the `k` images
with the largest such activations are kept, and from each the square of input pixels that unit sees (its
receptive field, from `models.receptive_fields`) is cropped. Layer 1's patches are a few pixels wide
(edges); the last layer's are wider than the image (whole shapes). Computed once, in eval mode, without
gradients; the explorer (`explore/patch_explorer.py`) only indexes the result.

    top = top_patches(model, images, k=9, spec=spec)   # images: normalized (N,C,H,W)
    top.layers["conv2_2"].patches                      # (channels, k, rf, rf) in [0,1], NaN outside the image
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetSpec, denormalize
from .backbones import receptive_fields


def unit_offsets(backbone: nn.Module) -> dict[str, float]:
    """Input-pixel centre of unit (0, 0) after each layer of a ConvStack: start += ((k-1)/2 - pad) * jump."""
    start, jump, out = 0.0, 1, {}
    for name, layer in backbone.layers.named_children():
        module = layer[0] if isinstance(layer, nn.Sequential) else layer
        k, s, p = (v if isinstance(v, int) else v[0] for v in (module.kernel_size, module.stride, module.padding))
        start += ((k - 1) / 2 - p) * jump  # the first kernel position's centre, in input pixels
        jump *= s
        out[name] = start
    return out


def receptive_box(i: int, j: int, rf: int, jump: int, offset: float) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive and unclipped, of the input square unit (i, j) sees."""
    top, left = i * jump + offset - (rf - 1) / 2, j * jump + offset - (rf - 1) / 2
    if top != int(top) or left != int(left):
        raise ValueError(f"a {rf}-px receptive field centred at {offset} + {jump}*i is not pixel-aligned")
    return int(top), int(left), int(top) + rf - 1, int(left) + rf - 1


def crop_box(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    """The (C, size, size) square of `image` (C,H,W) at (top, left); pixels outside the image are NaN."""
    _, h, w = image.shape
    pad = (max(0, -left), max(0, left + size - w), max(0, -top), max(0, top + size - h))
    padded = F.pad(image.float(), pad, value=float("nan"))  # (C,H,W) -> (C, H+pads, W+pads)
    t, lft = top + pad[2], left + pad[0]
    return padded[:, t:t + size, lft:lft + size]


def units_seeing_whole_input(backbone: nn.Module, layer: str | None = None, size: int = 28) -> torch.Tensor:
    """(h, w) bool map of `layer` (default: the last): True where a unit's field covers the whole input."""
    rfs = {name: (rf, jump) for name, rf, jump in receptive_fields(backbone)}
    layer = layer or list(rfs)[-1]
    with torch.no_grad():
        h, w = backbone.feature_maps(torch.zeros(1, backbone.in_channels, size, size))[layer].shape[2:]
    rf, jump = rfs[layer]
    offset = unit_offsets(backbone)[layer]
    out = torch.zeros(h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            top, left, bottom, right = receptive_box(i, j, rf, jump, offset)
            out[i, j] = top <= 0 and left <= 0 and bottom >= size - 1 and right >= size - 1
    return out


def top_label_share(layer: "LayerPatches", labels: torch.Tensor) -> torch.Tensor:
    """(C,) for each channel, the share of its top-k images that have the most common label among them."""
    top_labels = labels[layer.image_index]  # (C, k)
    k = top_labels.shape[1]
    return torch.stack([torch.bincount(row).max() for row in top_labels]).float() / k


@dataclass
class LayerPatches:
    """The top-k patches of one layer: channel c's k-th strongest image is `image_index[c, k]`."""

    name: str
    rf: int  # receptive field (input pixels) = patch width
    jump: int  # input pixels between neighbouring units
    offset: float  # input-pixel centre of unit (0, 0)
    values: torch.Tensor  # (C, k) activation of the image's strongest unit, descending
    image_index: torch.Tensor  # (C, k) which image
    position: torch.Tensor  # (C, k, 2) (i, j) of that unit in the layer's map
    patches: torch.Tensor  # (C, k, rf, rf) the input square it sees, in [0, 1]; NaN outside the image

    @property
    def channels(self) -> int:
        return self.values.shape[0]

    def box(self, channel: int, rank: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the patch `rank` of `channel` in its source image."""
        i, j = (int(v) for v in self.position[channel, rank])
        return receptive_box(i, j, self.rf, self.jump, self.offset)


@dataclass
class TopPatches:
    """Top-activating patches of every layer, and the images they were cut from (for display)."""

    layers: dict[str, LayerPatches]
    images: torch.Tensor  # (N, C, H, W) in [0, 1]: what the patches were cropped from
    k: int


def display_images(images: torch.Tensor, spec: DatasetSpec | None = None) -> torch.Tensor:
    """Normalized images -> [0, 1] (with `spec`'s mean/std, else each image min-max scaled)."""
    x = images.detach().float().cpu()
    if spec is not None:
        return denormalize(x, spec)
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp(min=1e-8)


@torch.no_grad()
def strongest_units(model: nn.Module, images: torch.Tensor,
                    batch_size: int = 512) -> dict[str, tuple[torch.Tensor, torch.Tensor, int]]:
    """{layer: (values (N,C), flat positions (N,C), map width)}: each image's strongest unit per channel."""
    backbone = getattr(model, "backbone", model)
    device = next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()  # BatchNorm with its running statistics: an image's maps do not depend on the batch
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    widths: dict[str, int] = {}
    try:
        for start in range(0, len(images), batch_size):
            maps = backbone.feature_maps(images[start:start + batch_size].to(device))
            for name, m in maps.items():
                values, where = m.float().flatten(2).max(dim=2)  # (B,C,H,W) -> (B,C,H*W) -> (B,C)
                parts.setdefault(name, []).append((values.cpu(), where.cpu()))
                widths[name] = m.shape[3]
    finally:
        backbone.train(was_training)
    return {name: (torch.cat([v for v, _ in p]), torch.cat([w for _, w in p]), widths[name])
            for name, p in parts.items()}


def top_patches(model: nn.Module, images: torch.Tensor, k: int = 9, spec: DatasetSpec | None = None,
                batch_size: int = 512) -> TopPatches:
    """For every layer and channel, the `k` images whose strongest unit is largest, and the patches it sees."""
    backbone = getattr(model, "backbone", model)
    shown = display_images(images, spec)
    offsets = unit_offsets(backbone)
    k = min(k, len(images))
    layers = {}
    strongest = strongest_units(model, images, batch_size)
    for name, rf, jump in receptive_fields(backbone):
        values, where, width = strongest[name]
        best, idx = values.topk(k, dim=0)  # (N,C) -> (k,C): the k strongest images of each channel
        flat = where.gather(0, idx)  # (k,C) flat positions in the layer's map
        position = torch.stack([flat // width, flat % width], dim=-1).transpose(0, 1)  # (k,C,2) -> (C,k,2)
        layer = LayerPatches(name, rf, jump, offsets[name], best.T.contiguous(), idx.T.contiguous(), position,
                             torch.empty(0))
        layer.patches = torch.stack([
            torch.stack([crop_box(shown[int(layer.image_index[c, r])], *layer.box(c, r)[:2], rf)[0]
                         for r in range(k)]) for c in range(layer.channels)])  # (C,k,rf,rf)
        layers[name] = layer
    return TopPatches(layers, shown, k)


def unit_input_gradient(model: nn.Module, image: torch.Tensor, layer: str, channel: int,
                        unit: tuple[int, int]) -> torch.Tensor:
    """d(unit)/d(input) for one normalized image (C,H,W), in eval mode: (C,H,W), zero outside the unit's field."""
    backbone = getattr(model, "backbone", model)
    device = next(backbone.parameters()).device
    was_training = backbone.training
    backbone.eval()
    try:
        x = image[None].to(device).detach().requires_grad_(True)  # (C,H,W) -> (1,C,H,W)
        out = backbone.feature_maps(x)[layer]
        grad, = torch.autograd.grad(out[0, channel, unit[0], unit[1]], x)
    finally:
        backbone.train(was_training)
    return grad[0].cpu()

"""A model `y_pred = f(X, W)`: a backbone's `forward_features` followed by a head, built for a data set."""
from __future__ import annotations

import torch
from torch import nn

from ..data import get_spec
from ..errors import ConfigError, unknown_name
from .backbones import ConvStack, feature_shape, make_backbone
from .heads import HEADS, Head, make_head


class ImageClassifier(nn.Module):
    """`backbone.forward_features` then `head`: images (N,C,H,W) -> logits (N,K)."""

    def __init__(self, backbone: ConvStack, head: Head, input_shape: tuple[int, int, int]):
        super().__init__()
        self.backbone, self.head, self.input_shape = backbone, head, tuple(input_shape)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))

    def reset_classifier(self, head: str, num_classes: int, **kwargs) -> None:
        """Swap in a new head (timm's reset_classifier), sized from the backbone's features."""
        c, h, w = feature_shape(self.backbone, self.input_shape)
        self.head = make_head(head, c, num_classes, (h, w), **kwargs)


def build_model(dataset: str, head: str = "gap_fc", backbone: str | None = None,
                input_shape: tuple[int, int, int] | None = None, **head_kwargs) -> ImageClassifier:
    """The model for `dataset` (its input shape and class count) with the chosen head."""
    spec = get_spec(dataset)
    if head not in HEADS:  # fail before building anything
        raise unknown_name("head", head, HEADS)
    input_shape = tuple(input_shape or spec.input_shape)
    net = make_backbone(backbone or spec.backbone, input_shape[0])  # the data set's default backbone
    try:
        c, h, w = feature_shape(net, input_shape)
    except RuntimeError as exc:  # e.g. more poolings than the image has pixels
        raise ConfigError(f"backbone does not fit the data set ({backbone!r} on {dataset}'s {input_shape} images: "
                          f"{str(exc).splitlines()[0][:120]}): use one made for this size, e.g. the data set's "
                          f"default {spec.backbone!r}") from exc
    return ImageClassifier(net, make_head(head, c, spec.num_classes, (h, w), **head_kwargs), input_shape)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in `module`."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_table(module: nn.Module) -> list[tuple[str, tuple[int, ...], int]]:
    """(name, shape, count) for every parameter tensor, for printing."""
    return [(n, tuple(p.shape), p.numel()) for n, p in module.named_parameters()]

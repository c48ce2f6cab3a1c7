"""Computed quiz answers about backbones and heads (weeks 3-6), registered in `answers.ANSWERS` like the rest.

Heavy imports (torch, models) happen inside the functions, so validating a bank stays fast.
"""
from __future__ import annotations

from .answers import answer_function, as_hw

# ------------------------------------------------------------------ backbones and heads (weeks 3-6)

@answer_function
def feature_shape(backbone: str, input_shape: list) -> tuple[int, ...]:
    """(C, H, W) of a registered backbone's features for one input, by a dry run."""
    from .. import models
    net = models.make_backbone(backbone, int(input_shape[0]))
    return tuple(models.feature_shape(net, tuple(input_shape)))


@answer_function
def dataset_feature_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) of the features of `dataset`'s default model."""
    from .. import models
    model = models.build_model(dataset, "gap_fc")
    return tuple(models.feature_shape(model.backbone, model.input_shape))


@answer_function
def receptive_field(backbone: str, layer: str | None = None, in_channels: int = 1) -> int:
    """Receptive field (input pixels) of a unit after `layer` (default: the last layer)."""
    from .. import models
    table = models.receptive_fields(models.make_backbone(backbone, in_channels))
    if layer is None:
        return table[-1][1]
    return next(rf for name, rf, _ in table if name == layer)


@answer_function
def layer_jump(backbone: str, layer: str | None = None, in_channels: int = 1) -> int:
    """Jump (input pixels between neighbouring units) after `layer` (default: the last layer)."""
    from .. import models
    table = models.receptive_fields(models.make_backbone(backbone, in_channels))
    if layer is None:
        return table[-1][2]
    return next(jump for name, _, jump in table if name == layer)


@answer_function
def units_covering_image(backbone: str, size: int, layer: str | None = None, in_channels: int = 1) -> int:
    """How many units of `layer` (default: the last) have a receptive field covering the whole size x size image."""
    from .. import models
    from ..models.patches import units_seeing_whole_input
    return int(units_seeing_whole_input(models.make_backbone(backbone, in_channels), layer, size).sum())


@answer_function
def head_parameters(head: str, in_channels: int, num_classes: int, feature_hw: list | None = None,
                    reduced_channels: int | None = None) -> int:
    """count_parameters(make_head(...))."""
    from ..models import count_parameters, make_head
    kwargs = {} if reduced_channels is None else {"reduced_channels": reduced_channels}
    return count_parameters(make_head(head, in_channels, num_classes, as_hw(feature_hw), **kwargs))


@answer_function
def head_parameter_ratio(head: str, reference: str, in_channels: int, num_classes: int, feature_hw: list) -> float:
    """Parameters of `head` divided by those of `reference`, rounded to 2 decimals."""
    return round(head_parameters(head, in_channels, num_classes, feature_hw)
                 / head_parameters(reference, in_channels, num_classes, feature_hw), 2)


@answer_function
def largest_head(in_channels: int, num_classes: int, feature_hw: list) -> str:
    """The registered head with the most parameters."""
    from ..models import HEADS
    return max(HEADS, key=lambda h: head_parameters(h, in_channels, num_classes, feature_hw))


@answer_function
def size_independent_heads(in_channels: int, num_classes: int) -> list[str]:
    """Heads whose parameter count does not depend on the feature map's H x W (tried at 4x4 and 7x7)."""
    from ..models import HEADS
    return sorted(h for h in HEADS if head_parameters(h, in_channels, num_classes, (4, 4))
                  == head_parameters(h, in_channels, num_classes, (7, 7)))


@answer_function
def class_map_shape(in_channels: int, num_classes: int, feature_hw: list, batch_size: int = 1) -> tuple[int, ...]:
    """Shape of conv1x1_gap's class activation maps, by a dry run."""
    import torch

    from ..models import make_head
    head = make_head("conv1x1_gap", in_channels, num_classes)
    with torch.no_grad():
        return tuple(head.class_maps(torch.zeros(batch_size, in_channels, *as_hw(feature_hw))).shape)


@answer_function
def conv_score_map_shape(in_channels: int, num_classes: int, feature_hw: list, input_hw: list) -> tuple[int, ...]:
    """Shape of flatten_fc turned into an H x W conv (head_algebra), on one in_channels x input_hw map."""
    import torch

    from ..models import make_head
    from ..models.head_algebra import flatten_fc_as_conv
    conv = flatten_fc_as_conv(make_head("flatten_fc", in_channels, num_classes, as_hw(feature_hw)))
    with torch.no_grad():
        return tuple(conv(torch.zeros(1, in_channels, *as_hw(input_hw))).shape)


@answer_function
def model_head_parameters(dataset: str, head: str) -> int:
    """Parameters of the head of build_model(dataset, head)."""
    from ..models import build_model, count_parameters
    return count_parameters(build_model(dataset, head).head)


@answer_function
def model_parameters(dataset: str, head: str) -> int:
    """Parameters of build_model(dataset, head)."""
    from ..models import build_model, count_parameters
    return count_parameters(build_model(dataset, head))


@answer_function
def logits_shape(dataset: str, head: str, batch_size: int) -> tuple[int, ...]:
    """Shape of build_model(dataset, head)'s output for a batch, by a dry run."""
    import torch

    from ..models import build_model
    model = build_model(dataset, head).eval()
    with torch.no_grad():
        return tuple(model(torch.zeros(batch_size, *model.input_shape)).shape)

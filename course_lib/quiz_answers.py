"""Quiz answers computed by course_lib when they are checked, so they never go stale.

A bank never holds code to evaluate. It names a registered function and gives it literal arguments:

    answer_from: {fn: head_parameters, args: {head: flatten_fc, in_channels: 512, num_classes: 10, feature_hw: [7, 7]}}

`ANSWERS` maps each name to a function of those arguments returning the expected answer (code
questions' checks live in `quiz_checks`). Heavy imports (torch, models) happen inside the functions,
so validating a bank stays fast.
"""
from __future__ import annotations

from typing import Any, Callable

ANSWERS: dict[str, Callable[..., Any]] = {}


def answer_function(fn: Callable) -> Callable:
    """Register `fn` under its own name as a computed answer."""
    ANSWERS[fn.__name__] = fn
    return fn


def _hw(feature_hw) -> tuple[int, int] | None:
    return None if feature_hw is None else tuple(int(v) for v in feature_hw)


# ------------------------------------------------------------------ data (week 1)

@answer_function
def dataset_input_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) of one image of `dataset`."""
    from .data import get_spec
    return tuple(get_spec(dataset).input_shape)


@answer_function
def batch_shape(dataset: str, batch_size: int) -> tuple[int, ...]:
    """(B, C, H, W) of one batch of images of `dataset`."""
    return (batch_size, *dataset_input_shape(dataset))


@answer_function
def dataset_num_classes(dataset: str) -> int:
    from .data import get_spec
    return get_spec(dataset).num_classes


@answer_function
def dataset_mean(dataset: str, channel: int = 0) -> float:
    """The registry's per-channel mean of pixel/255 over the training set."""
    from .data import get_spec
    return get_spec(dataset).mean[channel]


@answer_function
def dataset_std(dataset: str, channel: int = 0) -> float:
    from .data import get_spec
    return get_spec(dataset).std[channel]


@answer_function
def normalized_pixel(dataset: str, pixel: int, channel: int = 0) -> float:
    """What `data.normalize` makes of a raw uint8 value `pixel` in `channel`."""
    import torch

    from .data import get_spec, normalize
    spec = get_spec(dataset)
    x = torch.zeros(1, *spec.input_shape, dtype=torch.uint8)
    x[0, channel] = pixel
    return round(float(normalize(x, spec)[0, channel, 0, 0]), 6)


@answer_function
def batches_per_epoch(num_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """len() of a torch DataLoader over `num_samples` items."""
    from torch.utils.data import DataLoader
    return len(DataLoader(range(num_samples), batch_size=batch_size, drop_last=drop_last))


@answer_function
def last_batch_size(num_samples: int, batch_size: int) -> int:
    """Size of the last batch a torch DataLoader yields (drop_last=False)."""
    from torch.utils.data import DataLoader
    return len(list(DataLoader(range(num_samples), batch_size=batch_size))[-1])


# ------------------------------------------------------------------ layers (weeks 2, 4, 5)

@answer_function
def linear_parameters(in_features: int, out_features: int, bias: bool = True) -> int:
    from torch import nn

    from .models import count_parameters
    return count_parameters(nn.Linear(in_features, out_features, bias=bias))


@answer_function
def mlp_parameters(sizes: list) -> int:
    """Parameters of Linear layers between consecutive `sizes` (e.g. [784, 64, 10])."""
    return sum(linear_parameters(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


@answer_function
def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    from torch import nn

    from .models import count_parameters
    return count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias))


@answer_function
def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output height of nn.Conv2d on a size x size input, by a dry run."""
    import torch
    from torch import nn
    conv = nn.Conv2d(1, 1, kernel_size, stride=stride, padding=padding)
    with torch.no_grad():
        return int(conv(torch.zeros(1, 1, size, size)).shape[-1])


@answer_function
def linear_weight_shape(in_features: int, out_features: int) -> tuple[int, ...]:
    """Shape of nn.Linear(in_features, out_features).weight."""
    from torch import nn
    return tuple(nn.Linear(in_features, out_features).weight.shape)


@answer_function
def uniform_loss(num_classes: int) -> float:
    """Cross-entropy when every class gets the same score (an untrained model): log K."""
    import torch
    import torch.nn.functional as F
    return round(float(F.cross_entropy(torch.zeros(1, num_classes), torch.tensor([0]))), 4)


@answer_function
def per_sample_loss_shape(batch_size: int, num_classes: int) -> tuple[int, ...]:
    """Shape of F.cross_entropy(..., reduction='none') for a batch."""
    import torch
    import torch.nn.functional as F
    y = torch.zeros(batch_size, dtype=torch.long)
    return tuple(F.cross_entropy(torch.zeros(batch_size, num_classes), y, reduction="none").shape)


@answer_function
def sgd_update(weight: float, grad: float, lr: float) -> float:
    """A weight after one torch.optim.SGD step with gradient `grad`."""
    import torch
    w = torch.nn.Parameter(torch.tensor([float(weight)], dtype=torch.float64))
    w.grad = torch.tensor([float(grad)], dtype=torch.float64)
    torch.optim.SGD([w], lr=lr).step()
    return round(float(w.detach()), 6)


@answer_function
def linear_output_shape(batch_size: int, in_features: int, out_features: int) -> tuple[int, ...]:
    import torch
    from torch import nn
    with torch.no_grad():
        return tuple(nn.Linear(in_features, out_features)(torch.zeros(batch_size, in_features)).shape)


# ------------------------------------------------------------------ backbones and heads (weeks 3-6)

@answer_function
def feature_shape(backbone: str, input_shape: list) -> tuple[int, ...]:
    """(C, H, W) of a registered backbone's features for one input, by a dry run."""
    from . import models
    net = models.make_backbone(backbone, int(input_shape[0]))
    return tuple(models.feature_shape(net, tuple(input_shape)))


@answer_function
def dataset_feature_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) of the features of `dataset`'s default model."""
    from . import models
    model = models.build_model(dataset, "gap_fc")
    return tuple(models.feature_shape(model.backbone, model.input_shape))


@answer_function
def receptive_field(backbone: str, layer: str | None = None, in_channels: int = 1) -> int:
    """Receptive field (input pixels) of a unit after `layer` (default: the last layer)."""
    from . import models
    table = models.receptive_fields(models.make_backbone(backbone, in_channels))
    if layer is None:
        return table[-1][1]
    return next(rf for name, rf, _ in table if name == layer)


@answer_function
def layer_jump(backbone: str, layer: str | None = None, in_channels: int = 1) -> int:
    """Jump (input pixels between neighbouring units) after `layer` (default: the last layer)."""
    from . import models
    table = models.receptive_fields(models.make_backbone(backbone, in_channels))
    if layer is None:
        return table[-1][2]
    return next(jump for name, _, jump in table if name == layer)


@answer_function
def units_covering_image(backbone: str, size: int, layer: str | None = None, in_channels: int = 1) -> int:
    """How many units of `layer` (default: the last) have a receptive field covering the whole size x size image."""
    from . import models
    from .patches import units_seeing_whole_input
    return int(units_seeing_whole_input(models.make_backbone(backbone, in_channels), layer, size).sum())


@answer_function
def head_parameters(head: str, in_channels: int, num_classes: int, feature_hw: list | None = None,
                    reduced_channels: int | None = None) -> int:
    """count_parameters(make_head(...))."""
    from .heads import make_head
    from .models import count_parameters
    kwargs = {} if reduced_channels is None else {"reduced_channels": reduced_channels}
    return count_parameters(make_head(head, in_channels, num_classes, _hw(feature_hw), **kwargs))


@answer_function
def head_parameter_ratio(head: str, reference: str, in_channels: int, num_classes: int, feature_hw: list) -> float:
    """Parameters of `head` divided by those of `reference`, rounded to 2 decimals."""
    return round(head_parameters(head, in_channels, num_classes, feature_hw)
                 / head_parameters(reference, in_channels, num_classes, feature_hw), 2)


@answer_function
def largest_head(in_channels: int, num_classes: int, feature_hw: list) -> str:
    """The registered head with the most parameters."""
    from .heads import HEADS
    return max(HEADS, key=lambda h: head_parameters(h, in_channels, num_classes, feature_hw))


@answer_function
def size_independent_heads(in_channels: int, num_classes: int) -> list[str]:
    """Heads whose parameter count does not depend on the feature map's H x W (tried at 4x4 and 7x7)."""
    from .heads import HEADS
    return sorted(h for h in HEADS if head_parameters(h, in_channels, num_classes, (4, 4))
                  == head_parameters(h, in_channels, num_classes, (7, 7)))


@answer_function
def class_map_shape(in_channels: int, num_classes: int, feature_hw: list, batch_size: int = 1) -> tuple[int, ...]:
    """Shape of conv1x1_gap's class activation maps, by a dry run."""
    import torch

    from .heads import make_head
    head = make_head("conv1x1_gap", in_channels, num_classes)
    with torch.no_grad():
        return tuple(head.class_maps(torch.zeros(batch_size, in_channels, *_hw(feature_hw))).shape)


@answer_function
def conv_score_map_shape(in_channels: int, num_classes: int, feature_hw: list, input_hw: list) -> tuple[int, ...]:
    """Shape of flatten_fc turned into an H x W conv (head_algebra), on one in_channels x input_hw map."""
    import torch

    from .head_algebra import flatten_fc_as_conv
    from .heads import make_head
    conv = flatten_fc_as_conv(make_head("flatten_fc", in_channels, num_classes, _hw(feature_hw)))
    with torch.no_grad():
        return tuple(conv(torch.zeros(1, in_channels, *_hw(input_hw))).shape)


@answer_function
def model_head_parameters(dataset: str, head: str) -> int:
    """Parameters of the head of build_model(dataset, head)."""
    from .models import build_model, count_parameters
    return count_parameters(build_model(dataset, head).head)


@answer_function
def model_parameters(dataset: str, head: str) -> int:
    from .models import build_model, count_parameters
    return count_parameters(build_model(dataset, head))


@answer_function
def logits_shape(dataset: str, head: str, batch_size: int) -> tuple[int, ...]:
    """Shape of build_model(dataset, head)'s output for a batch, by a dry run."""
    import torch

    from .models import build_model
    model = build_model(dataset, head).eval()
    with torch.no_grad():
        return tuple(model(torch.zeros(batch_size, *model.input_shape)).shape)


# ------------------------------------------------------------------ many devices (week 7)

@answer_function
def shard_size(num_samples: int, world_size: int) -> int:
    """Images each rank gets per epoch (DistributedSampler's rule, padded)."""
    from .parallel import shard_indices
    return len(shard_indices(num_samples, 0, world_size, shuffle=False))


@answer_function
def shard_padding(num_samples: int, world_size: int) -> int:
    """How many images DistributedSampler repeats so every rank gets the same number."""
    return shard_size(num_samples, world_size) * world_size - num_samples


@answer_function
def rank_positions(num_samples: int, rank: int, world_size: int) -> str:
    """The positions rank `rank` takes from an unshuffled epoch (r, r+N, ...), as text "1, 5, 9"."""
    from .parallel import shard_indices
    return ", ".join(str(int(i)) for i in shard_indices(num_samples, rank, world_size, shuffle=False))


@answer_function
def steps_per_epoch_ddp(num_samples: int, world_size: int, batch_size: int) -> int:
    """Optimizer steps per epoch when each of `world_size` ranks uses `batch_size` images per step."""
    import math
    return math.ceil(shard_size(num_samples, world_size) / batch_size)

"""Quiz answers computed by course_lib when they are checked, so they never go stale.

A bank never holds code to evaluate. It names a registered function and gives it literal arguments:

    answer_from: {fn: head_parameters, args: {head: flatten_fc, in_channels: 512, num_classes: 10, feature_hw: [7, 7]}}

`ANSWERS` maps each name to a function of those arguments returning the expected answer (code
questions' checks live in `checks.py`; the backbone and head answers in `answers_models.py`). Heavy
imports (torch, models) happen inside the functions, so validating a bank stays fast.
"""
from __future__ import annotations

from typing import Any, Callable

ANSWERS: dict[str, Callable[..., Any]] = {}


def answer_function(fn: Callable) -> Callable:
    """Register `fn` under its own name as a computed answer."""
    ANSWERS[fn.__name__] = fn
    return fn


def as_hw(feature_hw: list | tuple | None) -> tuple[int, int] | None:
    """A bank's `feature_hw: [7, 7]` as a tuple (None stays None)."""
    return None if feature_hw is None else tuple(int(v) for v in feature_hw)


# ------------------------------------------------------------------ data (week 1)

@answer_function
def dataset_input_shape(dataset: str) -> tuple[int, ...]:
    """(C, H, W) of one image of `dataset`."""
    from ..data import get_spec
    return tuple(get_spec(dataset).input_shape)


@answer_function
def batch_shape(dataset: str, batch_size: int) -> tuple[int, ...]:
    """(B, C, H, W) of one batch of images of `dataset`."""
    return (batch_size, *dataset_input_shape(dataset))


@answer_function
def dataset_num_classes(dataset: str) -> int:
    """How many classes `dataset` has."""
    from ..data import get_spec
    return get_spec(dataset).num_classes


@answer_function
def dataset_mean(dataset: str, channel: int = 0) -> float:
    """The registry's per-channel mean of pixel/255 over the training set."""
    from ..data import get_spec
    return get_spec(dataset).mean[channel]


@answer_function
def dataset_std(dataset: str, channel: int = 0) -> float:
    """The registry's per-channel std of pixel/255 over the training set."""
    from ..data import get_spec
    return get_spec(dataset).std[channel]


@answer_function
def normalized_pixel(dataset: str, pixel: int, channel: int = 0) -> float:
    """What `data.normalize` makes of a raw uint8 value `pixel` in `channel`."""
    import torch

    from ..data import get_spec, normalize
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
    """Parameters of nn.Linear(in_features, out_features)."""
    from torch import nn

    from ..models import count_parameters
    return count_parameters(nn.Linear(in_features, out_features, bias=bias))


@answer_function
def mlp_parameters(sizes: list) -> int:
    """Parameters of Linear layers between consecutive `sizes` (e.g. [784, 64, 10])."""
    return sum(linear_parameters(a, b) for a, b in zip(sizes[:-1], sizes[1:]))


@answer_function
def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> int:
    """Parameters of nn.Conv2d(in_channels, out_channels, kernel_size)."""
    from torch import nn

    from ..models import count_parameters
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
    """Shape of nn.Linear's output for a batch, by a dry run."""
    import torch
    from torch import nn
    with torch.no_grad():
        return tuple(nn.Linear(in_features, out_features)(torch.zeros(batch_size, in_features)).shape)


# ------------------------------------------------------------------ many devices (week 7)

@answer_function
def shard_size(num_samples: int, world_size: int) -> int:
    """Images each rank gets per epoch (DistributedSampler's rule, padded)."""
    from ..training.distributed import shard_indices
    return len(shard_indices(num_samples, 0, world_size, shuffle=False))


@answer_function
def shard_padding(num_samples: int, world_size: int) -> int:
    """How many images DistributedSampler repeats so every rank gets the same number."""
    return shard_size(num_samples, world_size) * world_size - num_samples


@answer_function
def rank_positions(num_samples: int, rank: int, world_size: int) -> str:
    """The positions rank `rank` takes from an unshuffled epoch (r, r+N, ...), as text "1, 5, 9"."""
    from ..training.distributed import shard_indices
    return ", ".join(str(int(i)) for i in shard_indices(num_samples, rank, world_size, shuffle=False))


@answer_function
def steps_per_epoch_ddp(num_samples: int, world_size: int, batch_size: int) -> int:
    """Optimizer steps per epoch when each of `world_size` ranks uses `batch_size` images per step."""
    import math
    return math.ceil(shard_size(num_samples, world_size) / batch_size)

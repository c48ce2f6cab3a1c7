"""Checks for code questions: run on the learner's own variable or function in the kernel namespace.

    check: {fn: head_like, args: {head: flatten_fc, in_channels: 512, num_classes: 10, feature_hw: [7, 7]}}

Each check is `fn(obj, expected, **args) -> (ok, message)`: `obj` is the learner's object, `expected`
the question's answer (literal or computed) or None. Learners' functions are compared with a reference
on random inputs, so any correct implementation passes.
"""
from __future__ import annotations

from typing import Callable

from .answers import as_hw
from .answers_models import head_parameters

CODE_CHECKS: dict[str, Callable[..., tuple[bool, str]]] = {}


def code_check(fn: Callable) -> Callable:
    """Register `fn(obj, expected, **args) -> (ok, message)` as a code check."""
    CODE_CHECKS[fn.__name__] = fn
    return fn


def _same_tensor(mine, ref, atol: float) -> tuple[bool, str]:
    import torch
    if not isinstance(mine, torch.Tensor):
        return False, f"expected a tensor, got {type(mine).__name__}"
    if tuple(mine.shape) != tuple(ref.shape):
        return False, f"shape {tuple(mine.shape)}, expected {tuple(ref.shape)}"
    if not torch.allclose(mine.double(), ref.double(), atol=atol, rtol=1e-4):
        diff = float((mine.double() - ref.double()).abs().max())
        return False, f"right shape {tuple(ref.shape)} but values differ (max difference {diff:.3g})"
    return True, f"matches the reference (shape {tuple(ref.shape)})"


def _references() -> dict[str, tuple[Callable, Callable]]:
    """name -> (reference function, inputs(generator) -> args); learners' functions must agree."""
    import torch
    import torch.nn.functional as F

    from ..data import get_spec, normalize

    def logits_and_labels(g):
        return torch.randn(6, 10, generator=g), torch.randint(0, 10, (6,), generator=g)

    def two_ranks_grads(g):
        return [torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)]

    return {
        "relu": (torch.relu, lambda g: (torch.randn(4, 7, generator=g),)),
        "normalize_mnist": (lambda x: normalize(x, get_spec("mnist")),
                            lambda g: (torch.randint(0, 256, (3, 1, 28, 28), generator=g, dtype=torch.uint8),)),
        "error_signal": (lambda y_out, y: y_out.softmax(1) - F.one_hot(y, y_out.shape[1]), logits_and_labels),
        "per_sample_loss": (lambda y_out, y: F.cross_entropy(y_out, y, reduction="none"), logits_and_labels),
        "predicted_class": (lambda y_out: y_out.argmax(dim=1), lambda g: (torch.randn(6, 10, generator=g),)),
        "average_gradients": (lambda grads: torch.stack(list(grads)).mean(0), lambda g: (two_ranks_grads(g),)),
    }


@code_check
def same_as_reference(obj, expected, reference: str, atol: float = 1e-5) -> tuple[bool, str]:
    """The learner's function gives the reference's numbers on random inputs (3 draws)."""
    import torch
    references = _references()
    fn, make_inputs = references[reference]
    if not callable(obj):
        return False, f"expected a function, got {type(obj).__name__}"
    for seed in range(3):
        args = make_inputs(torch.Generator().manual_seed(seed))
        ok, msg = _same_tensor(obj(*args), fn(*args), atol)
        if not ok:
            return False, msg
    return True, msg


@code_check
def tensor_equals(obj, expected, atol: float = 1e-6) -> tuple[bool, str]:
    """The learner's tensor equals `expected` (the question's answer)."""
    import torch
    return _same_tensor(obj, torch.as_tensor(expected, dtype=torch.float64), atol)


@code_check
def value_equals(obj, expected, tolerance: float = 0.0) -> tuple[bool, str]:
    """The learner's number equals `expected` within `tolerance`."""
    try:
        value = float(obj)
    except (TypeError, ValueError):
        return False, f"expected a number, got {type(obj).__name__}"
    if abs(value - float(expected)) <= tolerance + 1e-9 * abs(float(expected)):
        return True, f"{obj} is right"
    return False, f"{obj} is not right"


@code_check
def head_like(obj, expected, head: str, in_channels: int, num_classes: int,
              feature_hw: list | None = None) -> tuple[bool, str]:
    """The learner's module maps (N, C, H, W) -> (N, K) with as many parameters as make_head(head, ...)."""
    import torch
    from torch import nn

    from ..models import count_parameters
    if not isinstance(obj, nn.Module):
        return False, f"expected an nn.Module, got {type(obj).__name__}"
    hw = as_hw(feature_hw) or (7, 7)
    with torch.no_grad():
        out = obj(torch.randn(2, in_channels, *hw))
    if tuple(out.shape) != (2, num_classes):
        return False, (f"on a (2, {in_channels}, {hw[0]}, {hw[1]}) input it returns {tuple(out.shape)}, "
                       f"expected (2, {num_classes})")
    want = head_parameters(head, in_channels, num_classes, feature_hw)
    have = count_parameters(obj)
    if have != want:
        return False, f"right output shape, but {have:,} parameters instead of {want:,}"
    return True, f"(2, {num_classes}) logits and {have:,} parameters, like {head!r}"

"""Week 5 exercises: parameter counts of the heads, a 1x1 conv as a matmul, GAP->FC tiled into Flatten->FC,
which heads can learn *where*, a Flatten->FC head on a larger map (break it), and the CAM slider."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..explore.widgets import class_activation_maps
from ..models import HEADS, build_model, count_parameters, make_head
from . import core
from .core import Exercise, Verdict, expect_choice, expect_function, expect_shape, register, right, unanswered, wrong

C, HW, K = 512, (7, 7), 10


def head_counts(num_classes: int = K) -> dict[str, int]:
    """{head: parameters} of every registered head on a 512x7x7 map, counted from the modules."""
    return {name: count_parameters(make_head(name, C, num_classes, HW)) for name in HEADS}


# ------------------------------------------------------------------ predict: parameter counts

def _check_counts(answer: Any) -> Verdict:
    if not isinstance(answer, dict):
        return wrong("expected a dict {head name: number of parameters}")
    if any(core.is_unanswered(v) for v in answer.values()):
        return unanswered("replace every ... in my_counts by a number.")
    expected = head_counts()
    missing = sorted(set(expected) - set(answer))
    if missing:
        return wrong(f"give a count for every head; missing: {', '.join(missing)}")
    off = [name for name in expected if int(answer[name]) != expected[name]]
    if off:
        return wrong(f"right for {len(expected) - len(off)} of {len(expected)} heads; not yet for "
                     f"{', '.join(off)}. Count the weights and the biases of every layer.")
    return right("all four, counted from the modules: " + ", ".join(f"{n} {v:,}" for n, v in expected.items()))


def _counts_without_biases() -> dict[str, int]:
    return {name: sum(p.numel() for n, p in make_head(name, C, K, HW).named_parameters() if "bias" not in n)
            for name in HEADS}


register(Exercise(
    "week05/head-parameters", "predict", "the parameters of each head on 512x7x7, 10 classes",
    _check_counts,
    hints=("gap_fc: pooling has no parameters; Linear(512, 10) has a 10x512 weight and 10 biases.",
           "flatten_fc: the Linear layer takes 512*7*7 numbers.",
           "conv1x1_flatten_fc: a 1x1 conv 512 -> 16 (weights and biases), then Linear(16*7*7, 10)."),
    solution="""
        my_counts = {"gap_fc": 512 * 10 + 10,                      # Linear(512, 10)
                     "conv1x1_gap": 512 * 10 + 10,                 # Conv2d(512, 10, 1): the same weights
                     "flatten_fc": 512 * 7 * 7 * 10 + 10,          # Linear(25088, 10)
                     "conv1x1_flatten_fc": 512 * 16 + 16 + 16 * 7 * 7 * 10 + 10}
    """,
    reference=head_counts(),
    typical_mistakes=(_counts_without_biases(), {**head_counts(), "flatten_fc": 512 * 10 + 10}),
    explanation="Only the flatten heads depend on H x W: one weight per position, channel and class.",
))


# ------------------------------------------------------------------ fill in: a 1x1 conv as a matmul

def _conv1x1_reference(x, weight, bias):
    return F.conv2d(x, weight[:, :, None, None], bias)  # (K,C) -> (K,C,1,1)


def _conv1x1_solution(x, weight, bias):
    n, c, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c)  # (N,C,H,W) -> (N,H,W,C) -> (N*H*W, C)
    out = pixels @ weight.T + bias  # the same FC at every position: (N*H*W, C) -> (N*H*W, K)
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)  # -> (N,H,W,K) -> (N,K,H,W)


def _conv1x1_no_permute(x, weight, bias):
    n, c, h, w = x.shape
    return (x.reshape(n, h * w, c) @ weight.T + bias).reshape(n, -1, h, w)  # reshape is not a transpose


register(Exercise(
    "week05/conv1x1-matmul", "fill in", "a 1x1 convolution as a matrix product over channels",
    expect_function(_conv1x1_reference, lambda: (torch.randn(2, 6, 4, 5), torch.randn(3, 6), torch.randn(3)),
                    name="conv1x1"),
    hints=("At each position (n, i, j) the output is weight @ x[n, :, i, j] + bias.",
           "Move the channels last (permute), so each row is one position's C numbers; then one matmul.",
           "reshape alone does not move the channels last: it only reinterprets the memory."),
    solution="""
        def conv1x1(x, weight, bias):
            n, c, h, w = x.shape
            pixels = x.permute(0, 2, 3, 1).reshape(n * h * w, c)   # (N,C,H,W) -> (N,H,W,C) -> (N*H*W, C)
            out = pixels @ weight.T + bias                          # the same FC at every position -> (N*H*W, K)
            return out.view(n, h, w, -1).permute(0, 3, 1, 2)        # -> (N,H,W,K) -> (N,K,H,W)
    """,
    reference=_conv1x1_solution,
    typical_mistakes=(_conv1x1_no_permute, lambda x, weight, bias: torch.einsum("nchw,kc->nkhw", x, weight)),
    explanation="A 1x1 conv is one Linear(C, K) applied at every position with the same weights: "
                "F.conv2d(x, W.view(K, C, 1, 1), b) computes exactly this.",
))


# ------------------------------------------------------------------ fill in: GAP->FC inside Flatten->FC

def _check_tiling(fn: Any) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function tile_gap_weights(weight, bias, feature_hw), got {type(fn).__name__}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gap = make_head("gap_fc", 6, 3)
        maps = torch.randn(4, 6, 2, 3)
    got = fn(gap.fc.weight.detach().clone(), gap.fc.bias.detach().clone(), (2, 3))
    if got is None:
        return unanswered("tile_gap_weights returned None: fill in its body.")
    flat_w, flat_b = got
    if tuple(flat_w.shape) != (3, 6 * 2 * 3):
        return wrong(f"the Flatten->FC weight must have shape (K, C*H*W) = (3, 36), got {tuple(flat_w.shape)}")
    flat = make_head("flatten_fc", 6, 3, (2, 3))
    with torch.no_grad():
        flat.fc.weight.copy_(flat_w)
        flat.fc.bias.copy_(flat_b)
        a, b = flat(maps), gap(maps)
    if torch.allclose(a, b, atol=1e-5):
        return right("Flatten->FC with your weights gives GAP->FC's logits (checked on a 6x2x3 map).")
    if torch.allclose(a - flat_b, (b - gap.fc.bias) * 6, atol=1e-4, rtol=1e-4):  # 6 = H*W
        return wrong("the logits are H*W times too large: GAP averages, so each position gets W / (H*W).")
    return wrong("right shape, wrong logits: flatten orders the numbers channel by channel, (C, H, W); "
                 "each channel's weight must repeat over its H*W positions.")


register(Exercise(
    "week05/tile-gap-weights", "fill in", "GAP->FC written as a Flatten->FC",
    _check_tiling,
    hints=("GAP->FC gives W @ mean_p(f_p) + b = sum_p (W / (H*W)) @ f_p + b: every position gets W / (H*W).",
           "x.flatten(1) orders a (C, H, W) map channel by channel: all H*W positions of channel 0 first.",
           "Build a (K, C, H, W) weight that is W / (H*W) at every position, then reshape it to (K, C*H*W)."),
    solution="""
        def tile_gap_weights(weight, bias, feature_hw):
            h, w = feature_hw
            k, c = weight.shape
            tiled = (weight / (h * w)).view(k, c, 1, 1).expand(k, c, h, w)   # (K,C) -> (K,C,H,W)
            return tiled.reshape(k, c * h * w), bias                         # flatten's (C,H,W) order
    """,
    reference=lambda weight, bias, hw: (
        (weight / (hw[0] * hw[1])).repeat_interleave(hw[0] * hw[1], dim=1), bias),
    typical_mistakes=(lambda weight, bias, hw: (weight.repeat(1, hw[0] * hw[1]) / (hw[0] * hw[1]), bias),
                      lambda weight, bias, hw: (weight.repeat_interleave(hw[0] * hw[1], dim=1), bias)),
    explanation="Every function GAP->FC computes, Flatten->FC computes too (with these tied weights); the "
                "lesson shows a target Flatten->FC fits and no GAP head can: a strict subset.",
))


# ------------------------------------------------------------------ predict: which heads learn *where*?

POSITION_CHOICES = {
    "a": "all four heads",
    "b": "only the flatten heads (flatten_fc, conv1x1_flatten_fc)",
    "c": "only the GAP heads (gap_fc, conv1x1_gap)",
    "d": "none of them",
}


def observe_position_task() -> str:
    """Run the position experiment (head_algebra, cached) and say which heads learned it (test accuracy >= 90 %)."""
    from ..models.head_algebra import position_experiment

    learned = {name for name, acc in position_experiment().items() if acc["test"] >= 0.9}
    flat, gap = {"flatten_fc", "conv1x1_flatten_fc"}, {"gap_fc", "conv1x1_gap"}
    return {frozenset(flat | gap): "a", frozenset(flat): "b", frozenset(gap): "c", frozenset(): "d"}.get(
        frozenset(learned), "d")


register(Exercise(
    "week05/position-target", "predict", "which heads can learn where the object is?",
    expect_choice(observe_position_task, POSITION_CHOICES),
    hints=("The object is the same everywhere; only its column changes the label.",
           "What does the average over the 7x7 positions keep of *where* something was?"),
    solution="""
        my_prediction = "b"
        # GAP averages the positions away: moving the object does not change its output, so a GAP head gives
        # the same logits for every column; Flatten->FC has one weight per position and can tell them apart
    """,
    reference="b",
    typical_mistakes=("a", "c"),
    explanation="GAP heads are invariant to any rearrangement of the positions; Flatten->FC is not.",
))


# ------------------------------------------------------------------ break it: Flatten->FC on a larger map

LARGER_MAP_CHOICES = {
    "a": "logits of shape (N, 10), as on the 7x7 map",
    "b": "a (N, 10, 4, 4) score map",
    "c": "a ValueError: the head was built for 7x7 maps",
    "d": "logits of the right shape, silently wrong",
}


def head_on_larger_map(head: str = "flatten_fc", size: int = 10, verbose: bool = True) -> str:
    """Break it: a head built for 7x7 maps gets a 512 x size x size map. Returns the letter of what happened."""
    module = make_head(head, C, K, HW)
    try:
        with torch.no_grad():
            out = module(torch.randn(1, C, size, size))
    except ValueError as exc:
        if verbose:
            print(f"{head} raised ValueError: {exc}")
        return "c"
    if verbose:
        print(f"{head} returned shape {tuple(out.shape)}")
    return "a" if out.ndim == 2 else "b"


register(Exercise(
    "week05/flatten-larger-map", "break it", "a Flatten->FC head on a larger image",
    expect_choice(lambda: head_on_larger_map(verbose=False), LARGER_MAP_CHOICES),
    hints=("How many numbers does flatten give for 512x10x10, and how many inputs does the Linear layer take?",
           "course_lib's heads check the map size before anything is computed."),
    solution="""
        my_prediction = "c"
        # flatten gives 512*10*10 = 51,200 numbers but Linear takes 25,088: course_lib stops with a clear error
        # (plain nn.Linear would raise a shape-mismatch RuntimeError)
    """,
    reference="c",
    typical_mistakes=("a", "b"),
    explanation="Flatten->FC is tied to one input size. Its FC-to-conv conversion (a 7x7 conv) slides over the "
                "larger map instead and gives a score map.",
))


def conv_score_map_shape(size: int = 10) -> tuple[int, ...]:
    """Shape of flatten_fc (512x7x7, 10 classes) converted to a 7x7 conv, on one 512 x size x size map."""
    from ..models.head_algebra import flatten_fc_as_conv

    conv = flatten_fc_as_conv(make_head("flatten_fc", C, K, HW))
    with torch.no_grad():
        return tuple(conv(torch.zeros(1, C, size, size)).shape)


register(Exercise(
    "week05/fc-to-conv-shape", "predict", "the score map of Flatten->FC turned into a conv",
    expect_shape(conv_score_map_shape, why="a 7x7 kernel fits 10 - 7 + 1 = 4 times along each side."),
    hints=("The converted head is Conv2d(512, 10, kernel_size=7) without padding, stride 1.",
           "A k x k kernel without padding fits (size - k + 1) times along a side."),
    solution="""
        my_answer = (1, 10, 10 - 7 + 1, 10 - 7 + 1)   # one image, one map per class, 4x4 window positions
    """,
    reference=conv_score_map_shape(),
    typical_mistakes=((1, 10, 10, 10), (1, 10, 3, 3), (1, 10)),
    explanation="Each of the 4x4 positions is the Flatten->FC head applied to one 7x7 window of the larger "
                "map: the FC-to-conv conversion of fully convolutional networks.",
))


# ------------------------------------------------------------------ predict: the CAM slider

CAM_CHOICES = {
    "a": "the largest of the 10 class maps' means: the predicted class's logit",
    "b": "the predicted probability (between 0 and 1)",
    "c": "the same mean for every class: only the map's shape changes",
}


def observe_cam_means() -> str:
    """On a conv1x1_gap model: is the predicted class's map mean the largest (and equal to its logit)?"""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model("mnist", "conv1x1_gap").eval()
        images = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        cams, logits = class_activation_maps(model, images)
    means = cams.mean(dim=(2, 3))  # (N,K,h,w) -> (N,K)
    if torch.allclose(means, logits, atol=1e-5) and torch.equal(means.argmax(1), logits.argmax(1)):
        return "a"
    return "c" if torch.allclose(means, means[:, :1].expand_as(means)) else "b"


register(Exercise(
    "week05/cam-slider", "predict", "what the CAM explorer shows for the predicted class",
    expect_choice(observe_cam_means, CAM_CHOICES),
    hints=("conv1x1_gap's logit of class k is GAP of map k.",),
    solution="""
        my_prediction = "a"
        # logit_k = mean of map k, and the prediction is the argmax of the logits: the predicted class's map
        # has the largest mean (a probability would need the softmax of all 10 logits)
    """,
    reference="a",
    typical_mistakes=("b", "c"),
    explanation="The explorer's title prints the map's mean next to the logit: they are the same number.",
))

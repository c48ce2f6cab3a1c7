"""Week 6 exercises: heads, their parameters, the GAP twins, reading timings, evaluating in train mode.
Every answer is computed when checked (course_lib models, repeated_timing, a run of the broken variant)."""
from __future__ import annotations

import functools
import statistics

import torch
from torch import nn

from ..data import get_loaders
from ..models import build_model, count_parameters, make_head
from ..repeated_timing import Timing, ranges_overlap
from ..training import default_config, make_optimizer, predict, seed_everything, train_step
from ..training.head_comparison import train_twins
from .core import Exercise, Verdict, expect_choice, expect_number, register, right, unanswered, wrong


def head_parameters(dataset: str, head: str) -> int:
    """Trainable parameters of the head of build_model(dataset, head)."""
    return count_parameters(build_model(dataset, head).head)


# ---------------------------------------------------------------- predict: parameter counts

register(Exercise(
    "week06/cifar-flatten-params", "predict", "Parameters of flatten_fc on CIFAR-10's 128x8x8 feature map",
    expect_number(lambda: head_parameters("cifar10", "flatten_fc"),
                  why=lambda v: "C*H*W*K weights + K biases = 128*8*8*10 + 10."),
    hints=("Flatten turns (128, 8, 8) into one vector: how long is it?",
           "One weight per (input, class) pair, plus one bias per class."),
    solution="128 * 8 * 8 = 8,192 inputs; 8,192 * 10 weights + 10 biases = 81,930.",
    reference=81_930, typical_mistakes=(81_920, 1_290, 8_192),
    explanation="A flatten head grows with the map's area: one weight per channel, position and class. "
                "A GAP head on the same map has C*K + K = 1,290."))

register(Exercise(
    "week06/squeeze-flatten-params", "predict", "Parameters of conv1x1_flatten_fc on MNIST (r = 16)",
    expect_number(lambda: head_parameters("mnist", "conv1x1_flatten_fc"),
                  why=lambda v: "1x1 conv: C*r + r; then Flatten->FC: r*H*W*K + K (the ReLU has none)."),
    hints=("MNIST's backbone gives (16, 7, 7). The 1x1 conv maps 16 channels to r = 16, with a bias each.",
           "Then flatten r*7*7 values into a Linear to 10 classes."),
    solution="16*16 + 16 = 272 for the 1x1 conv; 16*7*7*10 + 10 = 7,850 for the Linear: 8,122.",
    reference=8_122, typical_mistakes=(8_106, 7_850, 7_840),
    explanation="The squeeze costs C*r + r; it pays when r is smaller than C (here it is not: r = C = 16)."))


# ---------------------------------------------------------------- predict: the float32 twins

TWIN_CHOICES = {
    "a": "still identical to float32 rounding: weights apart by less than 1e-6",
    "b": "visibly apart: weights differ by 1e-4 or more, and the test logits and accuracy can differ",
}


@functools.lru_cache(maxsize=1)
def float32_twins_outcome() -> str:
    """Train the GAP twins 32 steps in float32 from identical weights on identical batches: a or b."""
    return "a" if train_twins("mnist", torch.float32).weight_diff[-1] < 1e-6 else "b"


register(Exercise(
    "week06/float32-twins", "predict", "GAP twins in float32: identical start, identical batches, 32 steps",
    expect_choice(float32_twins_outcome, TWIN_CHOICES),
    hints=("At the start their logits differ by about 1e-8: the two heads add and multiply in another order.",
           "Does training shrink a small difference, or can it grow it?"),
    solution="(b): the rounding differences (about 1e-8) grow during training until the weights, logits and "
             "accuracy visibly differ. In float64 the same 32 steps stay identical to about 1e-15.",
    reference="b", typical_mistakes=("a",),
    explanation="Training is sensitive to tiny differences: one ReLU or max-pool that flips changes a gradient "
                "by far more than the rounding that caused it, and later steps build on it."))


# ---------------------------------------------------------------- fill in: share the weights


def share_weights(gap_head, conv_head) -> None:
    with torch.no_grad():
        k, c = gap_head.fc.weight.shape  # (K, C)
        conv_head.conv.weight.copy_(gap_head.fc.weight.view(k, c, 1, 1))  # (K,C) -> (K,C,1,1)
        conv_head.conv.bias.copy_(gap_head.fc.bias)


def _check_share(fn) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function, got {type(fn).__name__}")
    for c, k in ((16, 10), (128, 100)):
        torch.manual_seed(c)
        gap, conv = make_head("gap_fc", c, k), make_head("conv1x1_gap", c, k)  # different random weights
        before = [p.detach().clone() for p in gap.parameters()]
        fn(gap, conv)
        x = torch.randn(4, c, 7, 7)
        if not all(torch.equal(b, p) for b, p in zip(before, gap.parameters())):
            return wrong("your function changed gap_fc's weights: copy into the 1x1 conv, not out of it.")
        if not torch.allclose(conv(x), gap(x), atol=1e-5):
            err = (conv(x) - gap(x)).abs().max().item()
            return wrong(f"C={c}, K={k}: the heads' logits still differ by up to {err:.3g}. "
                         "Copy the weight (reshaped) and the bias.")
    return right("conv1x1_gap now gives gap_fc's logits (C=16, K=10 and C=128, K=100), like "
                 "heads.share_fc_weights.")


def _weight_only(gap_head, conv_head):
    with torch.no_grad():
        conv_head.conv.weight.copy_(gap_head.fc.weight.view(*gap_head.fc.weight.shape, 1, 1))


register(Exercise(
    "week06/share-weights", "fill in", "Copy gap_fc's Linear into conv1x1_gap's 1x1 conv",
    _check_share,
    hints=("gap_head.fc.weight is (K, C); conv_head.conv.weight is (K, C, 1, 1).",
           "Inside `torch.no_grad()`, `copy_` a reshaped view of the weight, and copy the bias too."),
    solution=share_weights, typical_mistakes=(_weight_only, lambda g, c: None),
    explanation="A 1x1 conv applies one (K, C) matrix at every position; averaging the positions before or "
                "after a linear map gives the same result, so with the same numbers the heads agree."))


# ---------------------------------------------------------------- fill in: read two timings

TIMING_CASES = (((1.00, 1.30, 1.10), (1.25, 1.05, 1.40)),  # overlapping ranges
                ((1.0, 1.1, 1.05), (2.0, 2.2, 2.1)),  # a clearly faster
                ((3.1, 2.9, 3.0, 3.3, 2.8), (1.2, 1.0, 1.1, 1.15, 1.05)),  # a clearly slower
                ((1.0, 2.0, 1.1), (1.9, 2.1, 2.2)))  # one slow repeat of a reaches b's range


def speed_ratio(a_seconds, b_seconds):
    a_range = (min(a_seconds), max(a_seconds))
    b_range = (min(b_seconds), max(b_seconds))
    if a_range[0] <= b_range[1] and b_range[0] <= a_range[1]:
        return None  # the spreads overlap: no clear difference
    return statistics.median(b_seconds) / statistics.median(a_seconds)  # > 1: a is faster


def _check_speed(fn) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function, got {type(fn).__name__}")
    answers = [fn(list(a), list(b)) for a, b in TIMING_CASES]
    if all(got is None for got in answers):
        return unanswered("your function returned None every time: fill in its body.")
    for (a, b), got in zip(TIMING_CASES, answers):
        ta, tb = Timing("a", a, 1.0), Timing("b", b, 1.0)  # the same work per repeat
        expected = None if ranges_overlap(ta, tb) else ta.rate / tb.rate
        if (got is None) != (expected is None) or (got is not None and abs(got - expected) > 1e-6 * expected):
            want = "None (the ranges overlap)" if expected is None else f"{expected:.3f}"
            return wrong(f"a = {a} s, b = {b} s: you return {got!r}, the rule gives {want}.")
    return right(f"follows course_lib.repeated_timing's rule on {len(TIMING_CASES)} pairs of timings.")


def _medians_only(a_seconds, b_seconds):
    return statistics.median(b_seconds) / statistics.median(a_seconds)


def _means(a_seconds, b_seconds):
    if min(a_seconds) <= max(b_seconds) and min(b_seconds) <= max(a_seconds):
        return None
    return statistics.mean(b_seconds) / statistics.mean(a_seconds)


register(Exercise(
    "week06/speed-ratio", "fill in", "Faster, or no clear difference?",
    _check_speed,
    hints=("Two setups differ only when their ranges (fastest to slowest repeat) do not overlap.",
           "When they do not, how many times faster is a: the ratio of the median times, b over a."),
    solution=speed_ratio, typical_mistakes=(_medians_only, _means),
    explanation="On a shared machine one repeat can be twice as slow as another; a difference smaller than "
                "that spread is not a finding. The median resists one slow repeat, the mean does not."))


# ---------------------------------------------------------------- break it: evaluate in train mode

TRAIN_MODE_CHOICES = {
    "a": "nothing changes: the same predictions, the same model",
    "b": "the predictions change (each image's scores depend on the other images of its batch) and the "
         "'evaluation' changes BatchNorm's running statistics, though no weight is updated",
    "c": "the weights W are updated, as in training",
    "d": "PyTorch raises an error",
}


@functools.lru_cache(maxsize=1)
def evaluate_in_train_mode(batch_size: int = 8) -> dict:
    """Train the MNIST model briefly, then evaluate 1,024 test images in eval mode and, the bug, in train
    mode with batches of `batch_size`: what changed (accuracies, running statistics, weights) and the letter."""
    seed_everything(0)
    train_loader, test_loader = get_loaders("mnist", 128, fast=True, seed=0)
    model = build_model("mnist")
    opt, sched = make_optimizer(model, default_config("mnist", epochs=1, schedule="constant"), len(train_loader))
    for X, y in train_loader:  # one short epoch (32 steps) so the predictions mean something
        train_step(model, (X, y), nn.functional.cross_entropy, opt, torch.device("cpu"))
        sched.step()
    X, y = next(iter(test_loader))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    eval_logits, _ = predict(model, [(X, y)], torch.device("cpu"))
    model.train()  # the bug: forgetting model.eval()
    with torch.no_grad():
        train_logits = torch.cat([model(xb) for xb in X.split(batch_size)])  # (1024, 10), batch by batch
        other_mates = torch.cat([X[:1], X[batch_size:2 * batch_size - 1]])  # image 0 with 7 other images
        same_image_diff = (model(X[:batch_size])[0] - model(other_mates)[0]).abs().max().item()
    after = model.state_dict()
    weights_changed = any(not torch.equal(state[k], after[k]) for k in state
                          if "running" not in k and "num_batches" not in k)
    stats_changed = any(not torch.equal(state[k], after[k]) for k in state if "running" in k)
    preds_changed = not torch.equal(eval_logits.argmax(1), train_logits.argmax(1))
    observed = "c" if weights_changed else ("b" if preds_changed and stats_changed else "a")
    model.load_state_dict(state)  # back to the trained model, then: running statistics recomputed from scratch
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a plain average over all the batches below, not a running one
    model.train()
    with torch.no_grad():
        for Xb, _ in train_loader:  # the 4,096 training images; no gradient, no step: only the statistics
            model(Xb)
    fresh_logits, _ = predict(model, [(X, y)], torch.device("cpu"))
    return {"eval_accuracy": (eval_logits.argmax(1) == y).double().mean().item(),
            "train_mode_accuracy": (train_logits.argmax(1) == y).double().mean().item(),
            "eval_accuracy_fresh_stats": (fresh_logits.argmax(1) == y).double().mean().item(),
            "predictions_changed": int((eval_logits.argmax(1) != train_logits.argmax(1)).sum()),
            "same_image_other_batch": same_image_diff,  # max |logit change| of image 0 when its batch-mates change
            "running_stats_changed": stats_changed, "weights_changed": weights_changed,
            "images": len(y), "batch_size": batch_size, "observed": observed}


register(Exercise(
    "week06/eval-in-train-mode", "break it", "Evaluate in train mode: forget model.eval()",
    expect_choice(lambda: evaluate_in_train_mode()["observed"], TRAIN_MODE_CHOICES),
    hints=("torch.no_grad() stops gradients; does it stop BatchNorm from using the batch's own statistics?",
           "In train mode BatchNorm also updates running_mean and running_var at every forward."),
    solution="(b): in train mode BatchNorm normalizes with each test batch's own statistics, so a prediction "
             "depends on its batch-mates, and every forward updates the running statistics: evaluating "
             "changes the model. No weight moves (no backward, no step).",
    reference="b", typical_mistakes=("a", "c", "d"),
    explanation="evaluate() and predict() call model.eval() and torch.no_grad(): eval mode for BatchNorm "
                "(and dropout), no_grad for memory and speed. They do different jobs; you need both."))

"""Week 4 exercises: shapes after a pool, receptive fields (predict, then the recursion and the box by hand),
and what happens when feature maps are computed without `model.eval()` (break it)."""
from __future__ import annotations

import copy
from typing import Any

import torch

from ..models import ConvStack, make_backbone, receptive_fields
from ..models.patches import receptive_box, unit_offsets, units_seeing_whole_input
from .core import Exercise, Verdict, expect_choice, expect_number, expect_shape, register, right, unanswered, wrong

BACKBONE = "mnist_small"


def _backbone(name: str = BACKBONE) -> ConvStack:
    return make_backbone(name, 1)


def layer_kernels(backbone: ConvStack) -> list[tuple[int, int]]:
    """(kernel_size, stride) of every layer of a ConvStack, in order: the input of the recursion."""
    out = []
    for layer in backbone.layers.children():
        module = layer[0] if isinstance(layer, torch.nn.Sequential) else layer
        k, s = (v if isinstance(v, int) else v[0] for v in (module.kernel_size, module.stride))
        out.append((k, s))
    return out


def rf_after(layer: str, name: str = BACKBONE) -> int:
    """Receptive field after `layer` of the registered backbone `name`, by `models.receptive_fields`."""
    return dict((n, rf) for n, rf, _ in receptive_fields(_backbone(name)))[layer]


def units_covering_image(name: str = BACKBONE, layer: str | None = None, size: int = 28) -> int:
    """How many units of `layer`'s map (default: the last) have a receptive field covering the whole image."""
    return int(units_seeing_whole_input(_backbone(name), layer, size).sum())


# ------------------------------------------------------------------ predict

def pool2_shape(batch: int = 32) -> tuple[int, ...]:
    """Shape of mnist_small's pool2 output for a batch of MNIST images, by a dry run."""
    with torch.no_grad():
        return tuple(_backbone().feature_maps(torch.zeros(batch, 1, 28, 28))["pool2"].shape)


register(Exercise(
    "week04/pool-shape", "predict", "the shape after the second max-pool",
    expect_shape(pool2_shape,
                 why="Two 2x2 max-pools: 28 -> 14 -> 7; pooling keeps the 12 channels of conv2_2."),
    hints=("The batch dimension comes first and is unchanged.",
           "A 2x2 max-pool with stride 2 halves height and width and keeps the channels.",
           "Count the pools up to pool2 and the channels of the conv just before it (conv2_2)."),
    solution="""
        maps = models.make_backbone("mnist_small", 1).feature_maps(torch.zeros(32, 1, 28, 28))
        my_answer = tuple(maps["pool2"].shape)   # 28 -> 14 (pool1) -> 7 (pool2), 12 channels
    """,
    reference=pool2_shape(),
    typical_mistakes=((32, 12, 14, 14), (12, 7, 7), (32, 16, 7, 7)),
    explanation="Pooling works on each channel separately: it shrinks the map and never changes the channels.",
))

register(Exercise(
    "week04/rf-after-layer", "predict", "the receptive field after conv2_1",
    expect_number(lambda: rf_after("conv2_1"), why=lambda v: "3 -> 5 (conv1_2) -> 6 (pool1) -> 10: after the "
                  "pool each 3x3 kernel reaches 2 input pixels further per step."),
    hints=("Use r = r + (k - 1) * jump, then jump = jump * stride, layer by layer from r = jump = 1.",
           "conv1_1, conv1_2: 3x3, stride 1. pool1: 2x2, stride 2. conv2_1: 3x3, stride 1.",
           "After pool1 the jump is 2, so conv2_1 adds (3 - 1) * 2 pixels."),
    solution="""
        rfs = models.receptive_fields(models.make_backbone("mnist_small", 1))
        my_answer = dict((name, rf) for name, rf, jump in rfs)["conv2_1"]   # 3, 5, 6, then 6 + 2*2
    """,
    reference=rf_after("conv2_1"),
    typical_mistakes=(rf_after("pool1") + 2, rf_after("conv2_1") - 1),  # the jump forgotten; off by one
    explanation="Each layer adds (k-1) input pixels per jump: after a stride-2 pool, every step of a kernel "
                "moves 2 input pixels, so the fields grow twice as fast.",
))

register(Exercise(
    "week04/units-covering-image", "predict", "how many last-layer units see the whole image?",
    expect_number(lambda: units_covering_image(), why=lambda v: "a field 40 px wide is centred on its unit: only "
                  "the central units' fields reach all four borders; a corner unit's field is cut off by the "
                  "image border on two sides and misses the far side."),
    hints=("The field is a 40x40 square centred on the unit, not anchored at the image corner.",
           "Unit (i, j) of the 7x7 map is centred at input pixel (4i + 1.5, 4j + 1.5).",
           "It covers rows 0..27 when 4i + 1.5 - 19.5 <= 0 and 4i + 1.5 + 19.5 >= 27: solve for i."),
    solution="""
        rf, jump, centre0 = 40, 4, 1.5        # conv3_3: models.receptive_fields; unit (0, 0) centred at 1.5
        count = 0
        for i in range(7):
            for j in range(7):
                ci, cj = i * jump + centre0, j * jump + centre0          # the unit's centre in input pixels
                sees_rows = ci - (rf - 1) / 2 <= 0 and ci + (rf - 1) / 2 >= 27
                sees_cols = cj - (rf - 1) / 2 <= 0 and cj + (rf - 1) / 2 >= 27
                count += sees_rows and sees_cols
        my_answer = count                     # the central 3x3 units: i, j in 2, 3, 4
    """,
    reference=units_covering_image(),
    typical_mistakes=(49, 1),
    explanation="A 40-px field on a 28-px image does not mean every unit sees everything: the field of unit "
                "(i, j) spans 4i - 18 .. 4i + 21, so only i = 2, 3, 4 (and likewise j) reach both borders.",
))


# ------------------------------------------------------------------ fill in

def _check_rf_recursion(fn: Any) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function receptive_field(layers), got {type(fn).__name__}")
    for name in ("mnist_small", "cifar_net", "vgg_tiny224"):
        backbone = _backbone(name)
        expected = [rf for _, rf, _ in receptive_fields(backbone)]
        got = fn(layer_kernels(backbone))
        if got is None:
            return unanswered("receptive_field returned None: fill in its body.")
        got = [int(v) for v in got]
        if len(got) != len(expected):
            return wrong(f"{name}: {len(got)} values for {len(expected)} layers; return one field per layer.")
        for n, (a, b) in enumerate(zip(got, expected)):
            if a != b:
                return wrong(f"{name}, layer {n + 1} ({'too large' if a > b else 'too small'}): check how far "
                             "one step of this kernel reaches in input pixels.")
    return right("matches models.receptive_fields on mnist_small, cifar_net and vgg_tiny224.")


def _rf_solution(layers):
    rf, jump, out = 1, 1, []
    for k, s in layers:
        rf += (k - 1) * jump  # one step of the kernel = `jump` input pixels
        jump *= s
        out.append(rf)
    return out


def _rf_without_jump(layers):
    rf, out = 1, []
    for k, _s in layers:
        rf += k - 1
        out.append(rf)
    return out


register(Exercise(
    "week04/rf-recursion", "fill in", "the receptive-field recursion",
    _check_rf_recursion,
    hints=("Keep two numbers while walking the layers: the field r and the jump j, both 1 at the input.",
           "A kernel of size k adds (k - 1) steps, and each step is j input pixels.",
           "After a layer with stride s, neighbouring units are j * s input pixels apart."),
    solution="""
        def receptive_field(layers):
            rf, jump, out = 1, 1, []
            for k, s in layers:
                rf += (k - 1) * jump      # one step of the kernel reaches `jump` input pixels further
                jump *= s                 # after a stride-s layer, neighbours are s times further apart
                out.append(rf)
            return out
    """,
    reference=_rf_solution,
    typical_mistakes=(_rf_without_jump, lambda layers: [k for k, _ in layers]),
    explanation="r_l = r_(l-1) + (k_l - 1) * j_(l-1) and j_l = j_(l-1) * s_l: the course's "
                "models.receptive_fields is exactly this loop.",
))


def _check_box(fn: Any) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function receptive_box(i, j, rf, jump), got {type(fn).__name__}")
    backbone = _backbone()
    for name, rf, jump in receptive_fields(backbone):
        offset = unit_offsets(backbone)[name]
        for i, j in ((0, 0), (1, 2), (3, 1)):
            got = fn(i, j, rf, jump)
            if got is None:
                return unanswered("receptive_box returned None: fill in its body.")
            want = receptive_box(i, j, rf, jump, offset)[:2]
            if tuple(int(v) for v in got) != want:
                return wrong(f"{name}, unit ({i}, {j}): your (top, left) is not the corner of its field; the field "
                             f"is {rf} px wide and centred on the unit.")
    return right("(top, left) matches patches.receptive_box for every layer of mnist_small.")


def _box_solution(i, j, rf, jump):
    centre_i, centre_j = i * jump + (jump - 1) / 2, j * jump + (jump - 1) / 2
    return int(centre_i - (rf - 1) / 2), int(centre_j - (rf - 1) / 2)


register(Exercise(
    "week04/receptive-box", "fill in", "where a unit's receptive field starts",
    _check_box,
    hints=("Unit (i, j) is centred at input pixel (i * jump + (jump - 1) / 2, j * jump + (jump - 1) / 2).",
           "A field rf pixels wide reaches (rf - 1) / 2 pixels each side of its centre.",
           "The corner may be negative: the field can stick out of the image (the conv layers' padding)."),
    solution="""
        def receptive_box(i, j, rf, jump):
            centre_i, centre_j = i * jump + (jump - 1) / 2, j * jump + (jump - 1) / 2
            return int(centre_i - (rf - 1) / 2), int(centre_j - (rf - 1) / 2)   # (top, left), may be < 0
    """,
    reference=_box_solution,
    typical_mistakes=(lambda i, j, rf, jump: (i * jump, j * jump),
                      lambda i, j, rf, jump: (i * jump - rf // 2, j * jump - rf // 2)),
    explanation="The field is centred on the unit; the explorers crop exactly this square "
                "(patches.receptive_box), and the lesson checks it against the gradient footprint.",
))


# ------------------------------------------------------------------ break it

TRAIN_MODE_CHOICES = {
    "a": "nothing: the maps are the same in train and eval mode",
    "b": "the maps change: BatchNorm normalizes with this batch's own mean and variance (and overwrites its "
         "running statistics)",
    "c": "an error: feature maps can only be computed in eval mode",
}


def feature_maps_in_train_mode(model: torch.nn.Module, images: torch.Tensor, verbose: bool = True) -> dict[str, float]:
    """Break it: the feature maps of `images` without model.eval(), on a copy (your model is unchanged).
    Returns the largest difference from eval mode and how far BatchNorm's running mean moved."""
    backbone = copy.deepcopy(getattr(model, "backbone", model)).cpu()
    bn = next(m for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    with torch.no_grad():
        backbone.eval()
        evaluated = backbone.feature_maps(images.cpu())
        backbone.train()  # the bug: feature maps computed in training mode
        trained = backbone.feature_maps(images.cpu())
    diff = max(float((trained[k] - evaluated[k]).abs().max()) for k in evaluated)
    moved = float((bn.running_mean - before).abs().max())
    if verbose:
        print(f"train mode vs eval mode: largest difference in a feature map {diff:.3g}; the first BatchNorm's "
              f"running mean moved by up to {moved:.3g} (on a copy of the model)")
    return {"max_difference": diff, "running_mean_moved": moved}


def _observe_train_mode() -> str:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        backbone, images = _backbone(), torch.randn(8, 1, 28, 28) * 2 + 1
    try:
        result = feature_maps_in_train_mode(backbone, images, verbose=False)
    except Exception:  # noqa: BLE001 - an error is one of the outcomes
        return "c"
    return "b" if result["max_difference"] > 1e-4 else "a"


register(Exercise(
    "week04/forget-eval", "break it", "feature maps without model.eval()",
    expect_choice(_observe_train_mode, TRAIN_MODE_CHOICES),
    hints=("What does BatchNorm divide by in training mode, and in eval mode?",
           "In training mode BatchNorm also updates running_mean and running_var: a forward pass changes "
           "the model."),
    solution="""
        my_prediction = "b"
        # in train mode BatchNorm normalizes with the statistics of the batch it is given, so an image's maps
        # depend on the other images of the batch, and running_mean/running_var are overwritten
    """,
    reference="b",
    typical_mistakes=("a", "c"),
    explanation="Always call model.eval() (and use torch.no_grad()) before looking at feature maps or "
                "evaluating: the explorers do it for you and restore the mode afterwards.",
))

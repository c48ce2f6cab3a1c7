# %% [markdown]
# # Week 5 - The final layer: from 512 x 7 x 7 to class scores
#
# **Goals.** A backbone turns a 3x224x224 image into a 512x7x7 feature map. Compare four ways to get
# class scores from it - GAP->FC, 1x1 conv->GAP, Flatten->FC and 1x1 conv->ReLU->Flatten->FC - by shapes and
# parameter counts; prove numerically that GAP->FC equals 1x1conv->GAP with shared weights; settle "is a 1x1
# conv a superset of FC?" by experiments; then look at the per-class 7x7 maps before pooling (class
# activation maps) of a trained model.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Shapes and parameter counts are exact in both modes: 3x224x224 -> 512x7x7; for 10 classes
#   `flatten_fc` has 7*7*512*10+10 = 250,890 parameters, `gap_fc` and `conv1x1_gap` 5,130 each
#   (100 classes: 2,508,900 and 51,300), `conv1x1_flatten_fc` 16,058 (its 1x1 conv, ReLU, Linear).
#   GAP->FC and 1x1conv->GAP logits agree to ~1e-8; so do GAP->FC and Flatten->FC with the tiled weights W/49.
# - The position experiment is the same in both modes (synthetic 16x7x7 maps, 1,024 to train and 1,024 to
#   test, label = the object's column, 7 classes): `flatten_fc` and `conv1x1_flatten_fc` 100.0 % test
#   accuracy, `gap_fc` and `conv1x1_gap` 13.7 % (chance 14.3 %).
# - A 3x320x320 image gives a 512x10x10 map: the GAP heads still give 10 logits, `flatten_fc` refuses
#   with a ValueError, and its 7x7-conv form gives a 4x4 score map equal to the head on each 7x7 window.
# - Fashion-MNIST with a `conv1x1_gap` head, 1 epoch on 4,096 images: test accuracy 42.4 % (expect
#   35-65 %), so the class maps are still blurry.
# - Without Fashion-MNIST (optional): a NOTE says so and the class maps come from MNIST with the same
#   head and 3 epochs of the MNIST recipe (fast mode: 1 epoch on 4,096 images, 36.8 % test accuracy).
#
# **Expected results - full mode:**
# - Shapes, counts, equivalences and the position experiment as in fast mode.
# - Fashion-MNIST recipe with the `conv1x1_gap` head (3 epochs, 60,000 images): test accuracy 83.32 %,
#   85.78 %, 89.44 % after epochs 1-3, 93.5 s of training (27-38 s per epoch on the shared machine below),
#   131 s for the whole notebook (15 s in fast mode). Image 0, an ankle boot, is predicted right (92 %); its
#   map's mean = its logit = 8.75.
# - Measured on: torch 2.14.1+cu130, AMD EPYC (Zen 5, avx512_bf16, no AMX), 2 CPU threads, no GPU
#   (`training.environment_line()`), 2026-11-30; the 2 cores were shared with other jobs (load average 6-9).

# %%
import torch

from course_lib import data, exercises, models, training
from course_lib.exercises import week05 as week05_exercises
from course_lib.explore import viz, widgets
from course_lib.models import head_algebra, heads

FAST = data.is_fast_mode()
device = training.get_device()
print(training.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)

# %% [markdown]
# ## 1. 3 x 224 x 224 -> 512 x 7 x 7
#
# `vgg_tiny224` is a VGG-style stack of conv3x3-BN-ReLU blocks with a 2x2 max-pool after each stage:
# 224 -> 112 -> 56 -> 28 -> 14 -> 7. Random weights are enough to follow the shapes.

# %%
torch.manual_seed(0)
backbone = models.make_backbone("vgg_tiny224", in_channels=3).eval()
x = torch.randn(2, 3, 224, 224)
with torch.no_grad():
    maps = backbone.feature_maps(x)
for name, m in maps.items():
    print(f"{name:8s} -> {tuple(m.shape)}")
feats = maps[list(maps)[-1]]  # (2, 512, 7, 7)
C, Hf, Wf = models.feature_shape(backbone, (3, 224, 224))
assert feats.shape == (2, 512, 7, 7) and (C, Hf, Wf) == (512, 7, 7)
print(f"backbone: {models.count_parameters(backbone):,} parameters")

# %% [markdown]
# ## 2. Four heads side by side
#
# | head | computation | parameters for $K$ classes |
# |---|---|---|
# | `gap_fc` | mean over the 7x7 positions -> Linear(512, K) | $512K + K$ |
# | `conv1x1_gap` | 1x1 conv 512 -> K (one 7x7 map per class) -> mean | $512K + K$ |
# | `flatten_fc` | flatten to 7*7*512 = 25,088 numbers -> Linear(25088, K) | $7 \cdot 7 \cdot 512 \cdot K + K$ |
# | `conv1x1_flatten_fc` | 1x1 conv 512 -> 16, **ReLU**, flatten 16*49 = 784 numbers -> Linear(784, K) | $512\cdot16+16 + 16\cdot49\cdot K + K$ |
#
# ### Exercise 1 (Predict): the parameter counts
#
# Before the table below reveals them: how many parameters does each head have on a 512x7x7 map with
# $K = 10$ classes? Count weights and biases.

# %%
my_counts = {"gap_fc": ..., "conv1x1_gap": ..., "flatten_fc": ..., "conv1x1_flatten_fc": ...}

# %%
exercises.check("week05/head-parameters", my_counts)

# %% [markdown]
# The counts below are computed from the modules, and checked against the formulas.

# %%
counts = {}
print(f"{'head':20s} {'params K=10':>12s} {'K=100':>12s}   output shapes")
for name in heads.HEADS:
    row, shapes = {}, []
    for K in (10, 100):
        head = heads.make_head(name, C, K, feature_hw=(Hf, Wf))
        with torch.no_grad():
            shapes.append(tuple(head(feats).shape))  # (2,512,7,7) -> (2,K)
        row[f"{K} classes"] = models.count_parameters(head)
    counts[name] = row
    print(f"{name:20s} {row['10 classes']:12,d} {row['100 classes']:12,d}   {shapes[0]}, {shapes[1]}")
for K in (10, 100):
    assert counts["flatten_fc"][f"{K} classes"] == 7 * 7 * 512 * K + K
    assert counts["gap_fc"][f"{K} classes"] == counts["conv1x1_gap"][f"{K} classes"] == 512 * K + K
    assert counts["conv1x1_flatten_fc"][f"{K} classes"] == 512 * 16 + 16 + 16 * 49 * K + K
print("flatten_fc for 10 classes: 7*7*512*10 + 10 =", 7 * 7 * 512 * 10 + 10)
by_k = {k: {name: row[k] for name, row in counts.items()} for k in ("10 classes", "100 classes")}
viz.bar_chart(by_k, "parameters of each head on a 512x7x7 feature map", "parameters (log scale)",
              logy=True, fmt="{:,.0f}", rotate=15)

# %%
# conv1x1_flatten_fc applies a ReLU between its 1x1 conv and its Linear layer (the table's bold ReLU):
squeeze_head = heads.make_head("conv1x1_flatten_fc", C, 10, feature_hw=(Hf, Wf))
with torch.no_grad():
    with_relu = squeeze_head.fc(torch.relu(squeeze_head.reduce(feats)).flatten(1))  # (2,16,7,7) -> (2,784) -> (2,10)
    without_relu = squeeze_head.fc(squeeze_head.reduce(feats).flatten(1))
    assert torch.allclose(squeeze_head(feats), with_relu, atol=1e-5)
    assert not torch.allclose(squeeze_head(feats), without_relu, atol=1e-3)
print("conv1x1_flatten_fc = Linear(ReLU(1x1 conv)), max diff",
      (squeeze_head(feats) - with_relu).abs().max().item())

# %% [markdown]
# ## 3. GAP -> FC equals 1x1 conv -> GAP (with shared weights)
#
# Averaging and a linear map commute: $\frac{1}{49}\sum_{p} (W f_p + b) = W \big(\frac{1}{49}\sum_p f_p\big) + b$.
# So a 1x1 conv with the FC's weights, followed by GAP, gives the same logits.

# %%
gap_fc = heads.make_head("gap_fc", 512, 10)
conv_gap = heads.make_head("conv1x1_gap", 512, 10)
with torch.no_grad():
    print("random weights, max |difference|:", (gap_fc(feats) - conv_gap(feats)).abs().max().item())
    heads.share_fc_weights(gap_fc, conv_gap)  # conv weight (10,512,1,1) <- fc weight (10,512)
    a, b = gap_fc(feats), conv_gap(feats)
print("shared weights, max |difference|:", (a - b).abs().max().item())
assert torch.allclose(a, b, atol=1e-5)

# %% [markdown]
# ### Exercise 2 (Fill in): a 1x1 convolution as a matrix product
#
# A 1x1 conv with weight $W$ (K, C) and bias $b$ (K,) computes, at every position, $W f_p + b$ from the C numbers
# $f_p$ at that position. Write it with one matrix product over the channels (no `F.conv2d`): `x` is (N, C, H, W),
# the result (N, K, H, W). The check compares it with `F.conv2d` on random inputs.

# %%
def conv1x1(x, weight, bias):
    """(N,C,H,W), (K,C), (K,) -> (N,K,H,W) with a matmul over the channels."""
    ...  # your code


# %%
exercises.check("week05/conv1x1-matmul", conv1x1)

# %% [markdown]
# ## 4. Is a 1x1 conv a superset of FC?
#
# A tempting claim: "a 1x1 conv can do everything an FC layer can, and more". It depends on *which* FC. Four
# experiments settle it, each checked by the cell that runs it.
#
# ### 4.1 An FC layer is a 1x1 convolution on a 1x1 map
#
# After GAP each image is a vector of 512 numbers = a 512x1x1 map. A 1x1 conv with the FC's weights reshaped to
# (10, 512, 1, 1) gives the same numbers (`head_algebra.fc_as_conv1x1`).

# %%
fc_conv = head_algebra.fc_as_conv1x1(gap_fc.fc)  # weight (10,512) -> (10,512,1,1)
with torch.no_grad():
    pooled = feats.mean(dim=(2, 3))  # (2,512,7,7) -> (2,512)
    fc_out = gap_fc.fc(pooled)  # (2,512) -> (2,10)
    conv_out = fc_conv(pooled.view(2, 512, 1, 1)).view(2, 10)  # (2,512,1,1) -> (2,10,1,1) -> (2,10)
assert torch.allclose(fc_out, conv_out, atol=1e-5)
print("FC == 1x1 conv on a 1x1 map, max diff", (fc_out - conv_out).abs().max().item())

# %% [markdown]
# ### 4.2 A 1x1 conv applies the same FC at every position
#
# On the 7x7 map, the 1x1 conv computes the FC at each of the 49 positions, with one shared weight matrix:
# weight sharing. It has exactly the FC's parameters, not 49 times as many.

# %%
with torch.no_grad():
    per_position = fc_conv(feats)  # (2,512,7,7) -> (2,10,7,7)
    for i in range(7):
        for j in range(7):
            assert torch.allclose(per_position[:, :, i, j], gap_fc.fc(feats[:, :, i, j]), atol=1e-5)
assert models.count_parameters(fc_conv) == models.count_parameters(gap_fc.fc) == 512 * 10 + 10
print(f"one weight {tuple(fc_conv.weight.shape)} + bias ({models.count_parameters(fc_conv):,} parameters) "
      f"applied at all 49 positions: output {tuple(per_position.shape)}")

# %% [markdown]
# ### 4.3 The GAP heads are a subset of Flatten->FC on a fixed 7x7 map
#
# GAP->FC computes $W \frac{1}{49}\sum_p f_p + b = \sum_p \frac{W}{49} f_p + b$: a Flatten->FC whose weight for
# every position is $W/49$. So every function a GAP head computes, a Flatten->FC head computes too.
#
# ### Exercise 3 (Fill in): GAP->FC's weights tiled into Flatten->FC
#
# Given GAP->FC's `weight` (K, C) and `bias` (K,) and the map size `feature_hw` = (H, W), return the weight
# (K, C\*H\*W) and bias (K,) of a Flatten->FC head with the same logits. `x.flatten(1)` orders a map channel by
# channel: all H\*W positions of channel 0 come first.

# %%
def tile_gap_weights(weight, bias, feature_hw):
    """(K,C), (K,), (H,W) -> Flatten->FC's (K, C*H*W) weight and (K,) bias computing GAP->FC."""
    ...  # your code


# %%
exercises.check("week05/tile-gap-weights", tile_gap_weights)

# %% [markdown]
# `head_algebra.gap_head_as_flatten_fc` does this for a trained head. The reverse is impossible: a GAP head
# gives the same logits for any rearrangement of the 49 positions (it only sees their mean), while a Flatten->FC
# head, with one weight per position, does not.

# %%
as_flatten = head_algebra.gap_head_as_flatten_fc(gap_fc, (7, 7))  # 250,890 parameters, 5,130 of them distinct
shuffled = head_algebra.permute_positions(feats)  # the same 49 vectors per map, at other positions
flat = heads.make_head("flatten_fc", 512, 10, feature_hw=(7, 7))
with torch.no_grad():
    assert torch.allclose(as_flatten(feats), gap_fc(feats), atol=1e-5)  # GAP->FC inside Flatten->FC
    assert torch.allclose(as_flatten(feats), conv_gap(feats), atol=1e-5)  # and so 1x1conv->GAP (shared weights)
    assert torch.allclose(gap_fc(shuffled), gap_fc(feats), atol=1e-5)  # GAP heads: blind to where
    assert torch.allclose(conv_gap(shuffled), conv_gap(feats), atol=1e-5)
    moved = (flat(shuffled) - flat(feats)).abs().max().item()
    assert moved > 1e-3  # Flatten->FC: sees where
    print("GAP->FC == Flatten->FC with tiled W/49, max diff", (as_flatten(feats) - gap_fc(feats)).abs().max().item())
    print(f"positions shuffled: GAP heads change by {(gap_fc(shuffled) - gap_fc(feats)).abs().max().item():.1e}, "
          f"a random Flatten->FC by {moved:.2f}")
    # Flatten->FC is itself a 7x7 convolution without padding on the 7x7 map (section 4.5 slides it)
    as_conv = head_algebra.flatten_fc_as_conv(flat)(feats)  # (2,512,7,7) -> (2,10,1,1)
    assert torch.allclose(flat(feats), as_conv.view(2, 10), atol=1e-4)
    print("Flatten->FC == 7x7 conv on the 7x7 map, max diff", (flat(feats) - as_conv.view(2, 10)).abs().max().item())

# %% [markdown]
# ### 4.4 A target that depends on *where*: Flatten->FC fits it, the GAP heads cannot
#
# Synthetic 16x7x7 feature maps (like the MNIST backbone's): post-ReLU noise, plus one "object" (the same
# 16-vector in every map) at a random position. The label is the object's **column** (7 classes). Every head is
# trained on 1,024 maps from the same seed (150 full-batch Adam steps) and tested on 1,024 others.
#
# ### Exercise 4 (Predict): which heads can learn it?
#
# - (a) all four heads
# - (b) only the flatten heads (`flatten_fc`, `conv1x1_flatten_fc`)
# - (c) only the GAP heads (`gap_fc`, `conv1x1_gap`)
# - (d) none of them

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
example_maps, example_columns = head_algebra.position_task(4)
print("four example maps (channel sum), labels = the object's column:", example_columns.tolist())
viz.feature_map_grid(example_maps.sum(1), "synthetic 16x7x7 maps, summed over channels: the object is the bright "
                     "unit", names=[f"column {c}" for c in example_columns.tolist()], ncols=4, shared_scale=True,
                     size=2.0)

# %%
position = head_algebra.position_experiment()  # trains the four heads (a few seconds)
chance = 1 / 7
for name, acc in position.items():
    print(f"{name:20s} train {acc['train']:6.1%}  test {acc['test']:6.1%}")
for name in ("flatten_fc", "conv1x1_flatten_fc"):
    assert position[name]["test"] >= 0.95  # fits where the object is
for name in ("gap_fc", "conv1x1_gap"):
    assert position[name]["test"] <= chance + 0.08  # chance is 1/7 = 14.3 %: it cannot see where
position_figure = viz.bar_chart({name: 100 * acc["test"] for name, acc in position.items()},
                                "label = column: test accuracy", "test accuracy (%)", fmt="{:.1f}",
                                highlight=("gap_fc", "conv1x1_gap"), rotate=15)
position_figure.axes[0].axhline(100 * chance, color="black", linestyle="--", label=f"chance ({chance:.1%})")
position_figure.axes[0].legend(loc="upper left", fontsize=9)
position_figure

# %%
exercises.check("week05/position-target", my_prediction)

# %%
gap_a, gap_b = position["gap_fc"]["test"], position["conv1x1_gap"]["test"]
assert abs(gap_a - gap_b) <= 0.02
print(f"gap_fc {gap_a:.1%} and conv1x1_gap {gap_b:.1%}: the same function class (section 3), trained from the same "
      "initial weights, so they follow the same path (up to rounding)")

# %% [markdown]
# ### 4.5 What the 1x1 conv gains: any input size
#
# A larger image gives a larger feature map. A head whose parameters do not depend on H x W still works.
#
# ### Exercise 5 (Break it): Flatten->FC on a larger image
#
# `flatten_fc` was built for 7x7 maps. A 3x320x320 image gives a 512x10x10 map. What does the head do with it?
#
# - (a) logits of shape (N, 10), as on the 7x7 map
# - (b) a (N, 10, 4, 4) score map
# - (c) a ValueError: the head was built for 7x7 maps
# - (d) logits of the right shape, silently wrong

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
outcome = week05_exercises.head_on_larger_map("flatten_fc")  # the broken variant: it prints what happened

# %%
exercises.check("week05/flatten-larger-map", my_prediction)

# %%
with torch.no_grad():
    big_feats = backbone.forward_features(torch.randn(1, 3, 320, 320))  # (1,3,320,320) -> (1,512,10,10)
    print("3x320x320 image -> feature map", tuple(big_feats.shape))
    score_map = conv_gap.class_maps(big_feats)  # (1,512,10,10) -> (1,10,10,10): one 10x10 map per class
    assert torch.allclose(score_map.mean(dim=(2, 3)), conv_gap(big_feats), atol=1e-5)
    assert gap_fc(big_feats).shape == (1, 10)
    print(f"conv1x1_gap: score map {tuple(score_map.shape)}, logits {tuple(conv_gap(big_feats).shape)}; "
          f"gap_fc: logits {tuple(gap_fc(big_feats).shape)}")
    try:
        flat(big_feats)
        raise AssertionError("flatten_fc accepted a 10x10 map")
    except ValueError as error:
        print("flatten_fc:", error)

# %% [markdown]
# **The FC-to-conv conversion.** Flatten->FC *is* a 7x7 convolution without padding (4.3). As a convolution it
# slides over the larger map, and each position of its output is the Flatten->FC head applied to one 7x7 window:
# a score map instead of an error (how fully convolutional networks reuse classifiers on larger images).
#
# ### Exercise 6 (Predict): the score map's shape
#
# `flatten_fc` (512x7x7, 10 classes) converted into a 7x7 conv, applied to the 1x512x10x10 map: what shape
# comes out?

# %%
my_answer = ...  # a tuple

# %%
exercises.check("week05/fc-to-conv-shape", my_answer)

# %%
flat_conv = head_algebra.flatten_fc_as_conv(flat)  # Linear(25088, 10) -> Conv2d(512, 10, kernel_size=7)
with torch.no_grad():
    scores = flat_conv(big_feats)  # (1,512,10,10) -> (1,10,4,4)
    for a in range(scores.shape[2]):
        for b in range(scores.shape[3]):
            assert torch.allclose(scores[:, :, a, b], flat(big_feats[:, :, a:a + 7, b:b + 7]), atol=1e-4)
print(f"flatten_fc as a 7x7 conv on the 10x10 map: score map {tuple(scores.shape)}, each position = flatten_fc "
      "on one 7x7 window")

# %% [markdown]
# ### 4.6 The verdict
#
# | claim | holds? | shown in |
# |---|---|---|
# | an FC layer is a 1x1 conv (on a 1x1 map) | yes | 4.1 |
# | a 1x1 conv is one FC applied at every position, weights shared | yes | 4.2 |
# | 1x1conv->GAP (= GAP->FC) can compute whatever Flatten->FC computes on a 7x7 map | **no**: it is a strict subset | 4.3, 4.4 |
# | a 1x1 conv head works at any input size; Flatten->FC does not, unless converted into a conv | yes | 4.5 |
#
# So a 1x1 conv *generalizes the FC layer* (any map size, the same FC everywhere), but a *head* built on it
# with GAP is *less* expressive than Flatten->FC on a fixed map: it cannot use where a feature is. What it
# gains: 49x fewer parameters, any input size, and per-class maps (next section).

# %% [markdown]
# ## 5. Class activation maps of a trained model
#
# With `conv1x1_gap`, the 1x1 conv's output *before* pooling is one map per class: the logit of class
# $k$ is the mean of map $k$, so the map shows *where* the evidence for $k$ is (Zhou et al. 2016, CAM).
# We train the small Fashion-MNIST network with this head (its feature map is 16x7x7); Fashion-MNIST is
# optional, so without it the same is done on MNIST (the cell says which).

# %%
cam_dataset = "fashion_mnist" if data.is_available("fashion_mnist") else "mnist"
if cam_dataset == "mnist":
    print("NOTE: Fashion-MNIST is not on this machine (`make data` printed why, and how to get it): "
          "the class maps below come from MNIST with its own recipe.")
spec = data.get_spec(cam_dataset)
config = training.default_config(cam_dataset, head="conv1x1_gap", epochs=3)  # Fashion-MNIST's recipe length
model, history = training.run_training(config)
model.eval()
print(f"test accuracy {history.test_acc[-1]:.2%} after {sum(history.seconds):.1f} s of training")
assert history.test_acc[-1] > (0.1 if FAST else 0.85)

# %% [markdown]
# ### Exercise 7 (Predict): what the CAM explorer shows for the predicted class
#
# In the explorer below, set the class slider to the class the model predicts for an image. The mean of that
# class's 7x7 map is...
#
# - (a) the largest of the 10 class maps' means: the predicted class's logit
# - (b) the predicted probability (between 0 and 1)
# - (c) the same mean for every class: only the map's shape changes

# %%
my_prediction = ...  # "a", "b" or "c"

# %%
exercises.check("week05/cam-slider", my_prediction)

# %%
_, test_loader = data.get_loaders(cam_dataset, batch_size=256)
X, y = next(iter(test_loader))
X, y = X[:32], y[:32]
cams = widgets.CamExplorer(model, X, y, spec)
# the CAM averages to the logit: the map really is the class score before pooling
with torch.no_grad():
    assert torch.allclose(cams.cams.mean(dim=(2, 3)), model(X.to(device)).cpu(), atol=1e-4)
assert torch.equal(cams.cams.mean(dim=(2, 3)).argmax(1), cams.logits.argmax(1))  # predicted = largest map mean
cams.show(**{"class": int(y[0]), "image": 0})
cams

# %%
# Static view for reading without a kernel: image 0, map of its true class
cams.static_figure(**{"class": int(y[0]), "image": 0})

# %%
i = 0
pred = int(cams.logits[i].argmax())
viz.feature_map_grid(cams.cams[i], f"image {i} (a {spec.classes[int(y[i])]}): the 7x7 map of every class, "
                     f"one colour scale; red = predicted ({spec.classes[pred]})", max_channels=10, ncols=5,
                     highlight=pred, size=1.8, names=spec.classes, shared_scale=True)

# %% [markdown] tags=["summary"]
# ## Summary
#
# - Backbone: 3x224x224 -> 512x7x7 (five stages of conv3x3-BN-ReLU + 2x2 max-pool).
# - Heads on a $C \times H \times W$ map, $K$ classes:
#   GAP->FC and 1x1conv->GAP: $CK + K$ parameters (5,130 for 512, 10);
#   Flatten->FC: $CHWK + K$ (7*7*512*10+10 = 250,890): 49x more, and tied to one input size.
# - `conv1x1_flatten_fc`: 1x1 conv 512 -> 16, ReLU, flatten, Linear: $512\cdot16+16 + 16\cdot49\cdot K + K$.
# - GAP and a linear map commute, so GAP->FC = 1x1conv->GAP with shared weights;
#   an FC layer is a 1x1 conv on a 1x1 map; a 1x1 conv is one FC applied at every position (shared weights).
# - Is a 1x1 conv a superset of FC? As a layer, it generalizes FC. As a head, 1x1conv->GAP (= GAP->FC) is a
#   *strict subset* of Flatten->FC on a fixed 7x7 map: tiling $W/49$ into Flatten->FC reproduces it, but it
#   cannot depend on where a feature is (a position target: Flatten->FC ~100 %, GAP heads at chance).
# - What the GAP/1x1 conv heads gain: 49x fewer parameters and any input size. Flatten->FC refuses another
#   size; converted into an HxW conv without padding it slides over a larger map and gives a score map.
# - The 1x1 conv's per-class maps before GAP are the Class Activation Maps: mean of map $k$ = logit of $k$.

# %% tags=["summary"]
import torch

from course_lib import models
from course_lib.models import head_algebra, heads

feats = torch.randn(2, 512, 7, 7)
for K in (10, 100):
    print(f"{K} classes:", {n: models.count_parameters(heads.make_head(n, 512, K, (7, 7))) for n in heads.HEADS})
gap_fc, conv_gap = heads.make_head("gap_fc", 512, 10), heads.make_head("conv1x1_gap", 512, 10)
heads.share_fc_weights(gap_fc, conv_gap)
print("GAP->FC == 1x1conv->GAP:", torch.allclose(gap_fc(feats), conv_gap(feats), atol=1e-5))
as_flatten = head_algebra.gap_head_as_flatten_fc(gap_fc, (7, 7))  # W/49 tiled over the 49 positions
print("GAP->FC == Flatten->FC with W/49:", torch.allclose(as_flatten(feats), gap_fc(feats), atol=1e-5))
flat_conv = head_algebra.flatten_fc_as_conv(heads.make_head("flatten_fc", 512, 10, (7, 7)))
print("Flatten->FC as a 7x7 conv on a 512x10x10 map:", tuple(flat_conv(torch.randn(1, 512, 10, 10)).shape))

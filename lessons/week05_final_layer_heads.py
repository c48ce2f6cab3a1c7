# %% [markdown]
# # Week 5 - The final layer: from 512 x 7 x 7 to class scores
#
# **Goals.** A backbone turns a 3x224x224 image into a 512x7x7 feature map. Compare three ways to get
# class scores from it - GAP->FC, 1x1 conv->GAP and Flatten->FC - by shapes and parameter counts; prove
# numerically that GAP->FC equals 1x1conv->GAP with shared weights and that an FC layer is a 1x1 conv on
# a 1x1 map; then look at the per-class 7x7 maps before pooling (class activation maps) of a trained model.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Shapes and parameter counts are exact in both modes: 3x224x224 -> 512x7x7; for 10 classes
#   `flatten_fc` has 7*7*512*10+10 = 250,890 parameters, `gap_fc` and `conv1x1_gap` 5,130 each
#   (100 classes: 2,508,900 and 51,300). GAP->FC and 1x1conv->GAP logits agree to ~1e-8.
# - Fashion-MNIST with a `conv1x1_gap` head, 1 epoch on 4,096 images: test accuracy 42.4 % (expect
#   35-65 %), so the class maps are still blurry.
# - Without Fashion-MNIST (optional): a NOTE says so and the class maps come from MNIST with the same
#   head and 3 epochs of the MNIST recipe (fast mode: 1 epoch on 4,096 images, 36.8 % test accuracy).
#
# **Expected results - full mode:**
# - Fashion-MNIST recipe with the `conv1x1_gap` head (3 epochs, 60,000 images): test accuracy
#   83.32 %, 85.78 %, 89.44 % after epochs 1-3, 28.3 s of training (9-10 s per epoch), 35 s for the
#   whole notebook. The map of the predicted class lights up on the garment (image 0, an ankle boot:
#   92 %, its map's mean = logit 8.75).
# - Measured on: 2-core Intel Xeon CPU with AMX, no GPU, torch 2.14.1+cu130 (2026-11-25), cores not
#   shared with other jobs during the run.

# %%
import torch
import torch.nn.functional as F

from course_lib import data, heads, models, recipes, train, viz, widgets

FAST = data.is_fast_mode()
device = train.get_device()
print(recipes.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)

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
# ## 2. Three heads side by side
#
# | head | computation | parameters for $K$ classes |
# |---|---|---|
# | `gap_fc` | mean over the 7x7 positions -> Linear(512, K) | $512K + K$ |
# | `conv1x1_gap` | 1x1 conv 512 -> K (one 7x7 map per class) -> mean | $512K + K$ |
# | `flatten_fc` | flatten to 7*7*512 = 25,088 numbers -> Linear(25088, K) | $7 \cdot 7 \cdot 512 \cdot K + K$ |
# | `conv1x1_flatten_fc` | 1x1 conv 512 -> 16, flatten 16*49 -> Linear | $512\cdot16+16 + 16\cdot49\cdot K + K$ |
#
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
print("flatten_fc for 10 classes: 7*7*512*10 + 10 =", 7 * 7 * 512 * 10 + 10)
by_k = {k: {name: row[k] for name, row in counts.items()} for k in ("10 classes", "100 classes")}
viz.bar_chart(by_k, "parameters of each head on a 512x7x7 feature map", "parameters (log scale)",
              logy=True, fmt="{:,.0f}", rotate=15)

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
# ## 4. A fully connected layer is a 1x1 convolution on a 1x1 map
#
# After GAP each image is a vector of 512 numbers = a 512x1x1 map. A 1x1 conv with the FC's weights
# reshaped to (10, 512, 1, 1) gives the same numbers. (Likewise Flatten->FC is a 7x7 convolution
# without padding on the 7x7 map.)

# %%
with torch.no_grad():
    pooled = feats.mean(dim=(2, 3))  # (2,512,7,7) -> (2,512)
    fc_out = gap_fc.fc(pooled)  # (2,512) -> (2,10)
    conv_out = F.conv2d(pooled.view(2, 512, 1, 1), gap_fc.fc.weight.view(10, 512, 1, 1), gap_fc.fc.bias)
    assert torch.allclose(fc_out, conv_out.view(2, 10), atol=1e-5)  # (2,10,1,1) -> (2,10)
    print("FC == 1x1 conv on a 1x1 map, max diff", (fc_out - conv_out.view(2, 10)).abs().max().item())

    flat = heads.make_head("flatten_fc", 512, 10, feature_hw=(7, 7))
    as_conv = F.conv2d(feats, flat.fc.weight.view(10, 512, 7, 7), flat.fc.bias)  # (2,10,1,1)
    assert torch.allclose(flat(feats), as_conv.view(2, 10), atol=1e-4)
    print("Flatten->FC == 7x7 conv on the 7x7 map, max diff", (flat(feats) - as_conv.view(2, 10)).abs().max().item())

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
config = recipes.default_config(cam_dataset, head="conv1x1_gap", epochs=3)  # Fashion-MNIST's recipe length
model, history = recipes.run_training(config)
model.eval()
print(f"test accuracy {history.test_acc[-1]:.2%} after {sum(history.seconds):.1f} s of training")
assert history.test_acc[-1] > (0.1 if FAST else 0.85)

# %%
_, test_loader = data.get_loaders(cam_dataset, batch_size=256)
X, y = next(iter(test_loader))
X, y = X[:32], y[:32]
cams = widgets.CamExplorer(model, X, y, spec)
# the CAM averages to the logit: the map really is the class score before pooling
with torch.no_grad():
    assert torch.allclose(cams.cams.mean(dim=(2, 3)), model(X.to(device)).cpu(), atol=1e-4)
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
# - GAP and a linear map commute, so GAP->FC = 1x1conv->GAP with shared weights;
#   an FC layer is a 1x1 conv on a 1x1 map; Flatten->FC is an HxW conv without padding.
# - The 1x1 conv's per-class maps before GAP are the Class Activation Maps: mean of map $k$ = logit of $k$.

# %% tags=["summary"]
import torch

from course_lib import heads, models

feats = torch.randn(2, 512, 7, 7)
for K in (10, 100):
    print(f"{K} classes:", {n: models.count_parameters(heads.make_head(n, 512, K, (7, 7))) for n in heads.HEADS})
gap_fc, conv_gap = heads.make_head("gap_fc", 512, 10), heads.make_head("conv1x1_gap", 512, 10)
heads.share_fc_weights(gap_fc, conv_gap)
print("GAP->FC == 1x1conv->GAP:", torch.allclose(gap_fc(feats), conv_gap(feats), atol=1e-5))

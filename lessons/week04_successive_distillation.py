# %% [markdown]
# # Week 4 - Successive distillation in a conv stack
#
# **Goals.** A convolution slides a small kernel over an image. Hand-set kernels (Sobel) find edges and
# gradients in a real photo; a trained network learns its own kernels, and each layer distils the
# previous layer's maps into smaller maps with more channels, each unit seeing a larger patch of the
# input (its *receptive field*). Then we *see* the distillation: for every layer and channel, the input
# patches of the whole test set that activate it most (Zeiler & Fergus 2014).
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Hand-set Sobel kernels equal scikit-image's `sobel_v`/`sobel_h`/`sobel` inside the photo (max
#   difference ~1e-7); a 1x1 convolution reproduces `rgb2gray`.
# - MNIST recipe capped to 1 epoch on 4,096 images: test accuracy 34.2 % (expect 20-60 %; the feature maps
#   are still rough); receptive fields 3, 5, 6, 10, 14, 16, 24, 32, 40 px, confirmed by backpropagation (the
#   last two are clipped to the 28-px image). For one image, the gradient of the central `pool2` unit is zero
#   at all 528 pixels outside its 16x16 field and at 63 of the 256 inside it (25 %).
# - 9 of the 49 units of the last 7x7 map see the whole image (in both modes: it is arithmetic, checked by
#   gradients); the corner units see 62 % of it.
# - Patches: the Fashion-MNIST network, 1 epoch on 4,096 images (test accuracy 42.1 %), top 9 of the 1,024
#   test images per channel, 3 px (`conv1_1`) to 40 px (`conv3_3`) wide. A channel's top 9 images share one
#   label 39 % of the time at `conv1_1`, 83 % at `conv3_3` (averaged over the channels).
# - Without Fashion-MNIST (optional): a NOTE says so and the patches come from the MNIST network (33 % and
#   81 %).
#
# **Expected results - full mode:**
# - The default MNIST recipe (8 epochs on 60,000 images): test accuracy 99.46 % after 263 s of training (22-44 s
#   per epoch on the shared machine below; the README's 67 s is from an unshared 2-core Intel Xeon with AMX). Receptive fields
#   and the 9 units as in fast mode; the central `pool2` unit's gradient is zero at 65 of the 256 pixels
#   inside its field (25 %).
# - Patches: the Fashion-MNIST recipe (3 epochs, 60,000 images): test accuracy 78.19 %, 87.34 %, 89.66 % after
#   epochs 1-3 (92 s); top 9 of the 10,000 test images per channel; one label shared 33 % of the time at
#   `conv1_1`, 92 % at `conv3_3`: the deep channels respond to coats, dresses, bags, shirts.
# - The whole notebook: 405 s here in full mode, 21 s in fast mode.
# - Measured on: torch 2.14.1+cu130, AMD EPYC (Zen 5, avx512_bf16, no AMX), 2 CPU threads, no GPU
#   (`training.environment_line()`), 2026-11-30; the 2 cores were shared with other jobs (load average 6-9).

# %%
import skimage
import torch
from skimage import color, filters
from torch import nn

from course_lib import data, exercises, models, training
from course_lib.exercises import week04 as week04_exercises
from course_lib.explore import patch_explorer, viz, widgets
from course_lib.models import patches

FAST = data.is_fast_mode()
device = training.get_device()
print(training.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)

# %% [markdown]
# ## 1. Edges with hand-set kernels
#
# A 3x3 convolution computes, at every pixel, a weighted sum of its 3x3 neighbourhood
# (`nn.Conv2d` computes $\sum_{u,v} K_{u,v}\, x_{i+u, j+v}$, a cross-correlation). The Sobel kernels
# estimate the horizontal and vertical derivatives; their length is the gradient magnitude:
#
# $$K_x = \begin{pmatrix}-1&0&1\\-2&0&2\\-1&0&1\end{pmatrix},\quad K_y = K_x^\top,\quad
# |\nabla x| = \sqrt{(K_x * x)^2 + (K_y * x)^2}.$$

# %%
camera = skimage.data.camera()  # a 512 x 512 grayscale photo shipped with scikit-image (uint8)
x = torch.tensor(camera, dtype=torch.float32)[None, None] / 255  # (1, 1, 512, 512)

sobel_x = torch.tensor([[-1., 0, 1], [-2, 0, 2], [-1, 0, 1]])
kernels = {"Sobel x (d/dx)": sobel_x, "Sobel y (d/dy)": sobel_x.T,
           "Laplacian": torch.tensor([[0., 1, 0], [1, -4, 1], [0, 1, 0]]),
           "blur (mean)": torch.full((3, 3), 1 / 9)}
edges = nn.Conv2d(1, len(kernels), kernel_size=3, padding=1, bias=False)
with torch.no_grad():
    edges.weight.copy_(torch.stack(list(kernels.values())).unsqueeze(1))  # (4,3,3) -> (4,1,3,3)
    responses = edges(x)[0]  # (1,1,512,512) -> (4,512,512)
gx, gy = responses[0], responses[1]
magnitude = torch.sqrt(gx**2 + gy**2)
print("conv weight", tuple(edges.weight.shape), "-> responses", tuple(responses.shape))
viz.map_row({"photo": x[0], **{k: r for k, r in zip(kernels, responses)}, "|gradient|": magnitude},
            "hand-set 3x3 kernels on scikit-image's camera photo", size=2.6)

# %% [markdown]
# scikit-image implements the same filters (normalized by 4), so away from the border our convolution
# must give its numbers:

# %%
inner = (slice(1, -1), slice(1, -1))  # the borders are padded differently
ref_v = torch.tensor(filters.sobel_v(camera / 255), dtype=torch.float32)  # vertical edges = d/dx
ref_h = torch.tensor(filters.sobel_h(camera / 255), dtype=torch.float32)  # horizontal edges = d/dy
ref = torch.tensor(filters.sobel(camera / 255), dtype=torch.float32)  # sqrt((h^2 + v^2) / 2)
assert torch.allclose((gx / 4)[inner], ref_v[inner], atol=1e-5)
assert torch.allclose((gy / 4)[inner], ref_h[inner], atol=1e-5)
assert torch.allclose((magnitude / 4 / 2**0.5)[inner], ref[inner], atol=1e-5)
print("Sobel by nn.Conv2d == scikit-image, max diff", ((gx / 4)[inner] - ref_v[inner]).abs().max().item())

# %% [markdown]
# A colour photo has 3 channels. A **1x1 convolution** mixes channels at each pixel without looking at
# neighbours: with weights (0.2125, 0.7154, 0.0721) it is exactly the grayscale conversion.

# %%
astronaut = skimage.data.astronaut()  # (512, 512, 3) uint8
rgb = torch.tensor(astronaut, dtype=torch.float32).permute(2, 0, 1)[None] / 255  # (H,W,3) -> (1,3,H,W)
to_gray = nn.Conv2d(3, 1, kernel_size=1, bias=False)
with torch.no_grad():
    to_gray.weight.copy_(torch.tensor([0.2125, 0.7154, 0.0721]).view(1, 3, 1, 1))
    gray = to_gray(rgb)  # (1,3,512,512) -> (1,1,512,512)
    g = edges(gray)[0]
assert torch.allclose(gray[0, 0], torch.tensor(color.rgb2gray(astronaut), dtype=torch.float32), atol=1e-5)
viz.map_row({"photo (3 channels)": rgb[0], "1x1 conv: gray": gray[0, 0],
             "|gradient|": torch.sqrt(g[0] ** 2 + g[1] ** 2)}, "channel mixing, then edges", size=3.2)

# %% [markdown]
# ## 2. A trained network's kernels and feature maps
#
# We train course_lib's small MNIST network with its default recipe (week 3; fast mode: 1 epoch on a
# subset). Its first layer learns 3x3 kernels; the following layers combine their maps.

# %%
spec = data.get_spec("mnist")
model, history = training.run_training(training.default_config("mnist"))
model.eval()
print(f"test accuracy {history.test_acc[-1]:.2%} after {sum(history.seconds):.1f} s of training")
assert history.test_acc[-1] > (0.1 if FAST else 0.99)
first = model.backbone.layers.conv1_1[0].weight.detach().cpu()  # (8,1,3,3)
viz.feature_map_grid(first[:, 0], "the learned 3x3 kernels of conv1_1 (compare with Sobel), one colour scale",
                     shared_scale=True, size=1.4)

# %% [markdown]
# ### Exercise 1 (Predict): the shape after `pool2`
#
# `mnist_small` is conv1_1, conv1_2, pool1, conv2_1, conv2_2, pool2, conv3_1, conv3_2, conv3_3 (3x3 convs with
# padding 1; 2x2 max-pools with stride 2; 8, 8, 12, 12, 12, 14, 16 channels). A batch of 32 MNIST images goes
# in. What is the shape of `pool2`'s output? Write a tuple, run the check, then compare with the table below.

# %%
my_answer = ...  # a tuple (N, C, H, W)

# %%
exercises.check("week04/pool-shape", my_answer)

# %%
_, test_loader = data.get_loaders("mnist", batch_size=256)
X, y = next(iter(test_loader))
X, y = X[:32], y[:32]
with torch.no_grad():
    maps = model.backbone.feature_maps(X.to(device))  # {layer name: (32, C, H, W)}
for name, m in maps.items():
    print(f"{name:8s} {str(tuple(m.shape[1:])):14s} {m[0].numel():6d} numbers per image")

# %% [markdown]
# **Explore:** choose a layer, a channel and an image. The red box on the input shows the receptive field
# of the map's strongest unit (the red cross): the only input pixels that can change that unit.

# %%
explorer = widgets.FeatureMapExplorer(model, X, y, spec)
explorer.show(layer="conv2_1", channel=0, image=0)
explorer

# %%
# The explorer only indexes the feature maps course_lib computes:
view = explorer.show(layer="pool2", channel=3, image=5)
with torch.no_grad():
    assert torch.equal(view.data, model.backbone.feature_maps(X.to(device))["pool2"][5, 3].cpu())
# Static views for reading without a kernel: one map, then every layer for image 0
explorer.static_figure(layer="conv2_1", channel=0, image=0)

# %%
viz.layer_overview({k: v[0] for k, v in explorer.maps.items()}, explorer.images[0],
                   title="successive distillation: each row is one layer's first 6 channels (one colour scale per row)")

# %% [markdown]
# ### Exercise 2 (Break it): feature maps without `model.eval()`
#
# The explorer computes its maps in eval mode. Suppose you forget `model.eval()` and compute the feature maps
# of 32 images in training mode. What happens? Answer `"a"`, `"b"` or `"c"`:
#
# - (a) nothing: the maps are the same in train and eval mode
# - (b) the maps change: BatchNorm normalizes with this batch's own mean and variance (and overwrites its
#   running statistics)
# - (c) an error: feature maps can only be computed in eval mode

# %%
my_prediction = ...  # "a", "b" or "c"

# %%
# the broken variant, run on a copy of the model (yours is left as it is)
broken = week04_exercises.feature_maps_in_train_mode(model, X)

# %%
exercises.check("week04/forget-eval", my_prediction)

# %% [markdown]
# ## 3. Receptive fields
#
# A unit's receptive field is the square of input pixels it depends on. Walking through the layers,
# with kernel size $k$, stride $s$ and *jump* $j$ (the distance in input pixels between neighbouring units):
#
# $$r_\ell = r_{\ell-1} + (k_\ell - 1)\, j_{\ell-1}, \qquad j_\ell = j_{\ell-1}\, s_\ell, \qquad r_0 = j_0 = 1.$$
#
# ### Exercise 3 (Predict): the receptive field after `conv2_1`
#
# Use the recursion by hand on conv1_1, conv1_2 (3x3, stride 1), pool1 (2x2, stride 2), conv2_1 (3x3, stride 1).

# %%
my_answer = ...  # a number of input pixels

# %%
exercises.check("week04/rf-after-layer", my_answer)

# %% [markdown]
# ### Exercise 4 (Fill in): the recursion as code
#
# `layers` is a list of `(kernel_size, stride)`, one per layer, in order. Return the receptive field after each
# layer. The check runs your function on three backbones and compares with `models.receptive_fields`.

# %%
def receptive_field(layers):
    """[(kernel_size, stride), ...] -> [receptive field after each layer]."""
    ...  # your code: walk the layers keeping r and the jump


print(week04_exercises.layer_kernels(model.backbone))  # mnist_small's (kernel_size, stride), layer by layer

# %%
exercises.check("week04/rf-recursion", receptive_field)

# %% [markdown]
# `course_lib.models.receptive_fields` computes the recursion; backpropagation measures it. The gradient of a
# unit with respect to the input is **zero outside its receptive field** (those pixels cannot change it). Over
# many inputs, the pixels where it is non-zero for at least one input fill the whole field, so the union over
# 64 random images measures its size:

# %%
rfs = models.receptive_fields(model.backbone)
x_rand = torch.randn(64, 1, 28, 28, requires_grad=True)
fmaps = model.backbone.feature_maps(x_rand.to(device))
print("layer     rf  jump  measured (rows)")
for name, rf, jump in rfs:
    i = (fmaps[name].shape[2] - 1) // 2  # a central unit
    grad, = torch.autograd.grad(fmaps[name][:, :, i, i].sum(), x_rand, retain_graph=True)
    rows = (grad.abs().sum((0, 1, 3)) > 0).nonzero().flatten()  # union over 64 images and every channel
    centre = i * jump + (jump - 1) / 2
    lo, hi = max(0, centre - (rf - 1) / 2), min(27, centre + (rf - 1) / 2)  # clipped to the image
    print(f"{name:8s} {rf:3d} {jump:5d}  {rows.min().item():2d}..{rows.max().item():2d} "
          f"({rows.max().item() - rows.min().item() + 1} px)")
    assert (rows.min().item(), rows.max().item()) == (lo, hi)
viz.bar_chart({name: rf for name, rf, _ in rfs}, "receptive field after each layer (input is 28 px)",
              "pixels", fmt="{:.0f}")

# %% [markdown]
# **For one image, the gradient can also be zero *inside* the field.** A ReLU whose input is negative passes no
# gradient, and a 2x2 max-pool passes it only to the largest of its 4 inputs. Take one test image and the
# strongest channel of the central `pool2` unit: its field is 16x16 px, but the max-pool listens to one
# `conv2_2` unit, whose field is 14x14, and ReLUs on the way may be off.

# %%
layer, image = "pool2", 0
rf_of = {name: (rf, jump) for name, rf, jump in rfs}
x0 = X[image]
with torch.no_grad():
    m = model.backbone.feature_maps(x0[None].to(device))[layer][0].cpu()  # (1,1,28,28) -> (12,7,7)
i = j = m.shape[1] // 2  # the central unit, whose field lies inside the image
channel = int(m[:, i, j].argmax())
assert m[channel, i, j] > 0  # the unit is on: its gradient is not zero everywhere
grad = patches.unit_input_gradient(model, x0, layer, channel, (i, j))[0]  # (1,28,28) -> (28,28)
box = patches.receptive_box(i, j, *rf_of[layer], patches.unit_offsets(model.backbone)[layer])
inside = torch.zeros(28, 28, dtype=torch.bool)
inside[max(box[0], 0):box[2] + 1, max(box[1], 0):box[3] + 1] = True
zero_inside = int((grad[inside] == 0).sum())
assert (grad[~inside] == 0).all()  # zero outside the receptive field: always
assert zero_inside > 0  # and, for this one image, zero at some pixels inside it too
print(f"{layer} unit ({i}, {j}), channel {channel}, image {image}: field rows {box[0]}..{box[2]}, columns "
      f"{box[1]}..{box[3]} ({int(inside.sum())} px); the gradient is 0 at all {int((~inside).sum())} pixels outside "
      f"and at {zero_inside} of the {int(inside.sum())} pixels inside ({zero_inside / int(inside.sum()):.0%})")
patch_explorer.gradient_figure(explorer.images[image], grad, box, f"one {layer} unit, one image: zero outside its "
                               "field, and zero at some pixels inside it")

# %% [markdown]
# ### Exercise 5 (Predict): which units of the last layer see the whole image?
#
# A `conv3_3` unit has a 40-px receptive field and the image is 28 px wide. But the field is centred on its
# unit, and the 7x7 units sit at different places. How many of the 49 units have a field that covers all of
# the 28x28 image?

# %%
my_answer = ...  # a number between 0 and 49

# %%
exercises.check("week04/units-covering-image", my_answer)

# %% [markdown]
# The arithmetic says which units see everything; backpropagation checks it (the union of non-zero gradients
# over 64 random images covers all 784 pixels exactly for those units). Each number below is the share of the
# image a unit of `conv3_3` can see:

# %%
last = rfs[-1][0]
covers = patches.units_seeing_whole_input(model.backbone, last)  # (7,7) bool, from the receptive-field arithmetic
out = fmaps[last]
seen = torch.zeros(out.shape[2:])
for i in range(out.shape[2]):
    for j in range(out.shape[3]):
        grad, = torch.autograd.grad(out[:, :, i, j].sum(), x_rand, retain_graph=True)
        seen[i, j] = (grad.abs().sum((0, 1)) > 0).float().mean()  # share of the 784 pixels that change it
assert torch.equal(seen == 1, covers)
assert int(covers.sum()) == week04_exercises.units_covering_image()
print(f"share of the image each {last} unit sees ({int(covers.sum())} of {covers.numel()} see all of it):")
for row in seen:
    print("  " + "  ".join(f"{v:4.0%}" for v in row.tolist()))

# %% [markdown]
# ### Exercise 6 (Fill in): where a unit's field starts
#
# In `mnist_small`, unit $(i, j)$ of a layer with jump $j_\ell$ is centred at input pixel
# $(i\,j_\ell + (j_\ell - 1)/2,\; j\,j_\ell + (j_\ell - 1)/2)$. Return the `(top, left)` corner of its field of
# `rf` pixels (it may be negative: the field can stick out of the image). The next section crops exactly these
# squares.

# %%
def receptive_box(i, j, rf, jump):
    """(top, left) input pixel of the receptive field of unit (i, j)."""
    ...  # your code


# %%
exercises.check("week04/receptive-box", receptive_box)

# %% [markdown]
# ## 4. Successive distillation made visible: what each channel looks for
#
# A feature map shows one image at a time. To see what a *channel* responds to, go through the whole test set:
# for each image take the channel's strongest unit, keep the 9 images where it is strongest, and crop from each
# the receptive field of that unit (Zeiler & Fergus 2014). Layer 1's patches are 3 px wide: at most an edge or a
# corner; the deeper layers' patches grow to strokes and parts, then to whole shapes: `conv3_3`'s 40-px fields are
# larger than the image (light blue: outside the image, where the convolutions pad with zeros).
#
# Fashion-MNIST's garments have more varied parts than digits (collars, sleeves, soles), so we train the same
# backbone on it with its recipe; without it (optional) we use the MNIST network above.

# %%
distill_dataset = "fashion_mnist" if data.is_available("fashion_mnist") else "mnist"
distill_spec = data.get_spec(distill_dataset)
if distill_dataset == "mnist":
    print("NOTE: Fashion-MNIST is not on this machine (`make data` printed why, and how to get it): "
          "the patches below come from the MNIST network trained above.")
    distill_model = model
else:
    distill_model, distill_history = training.run_training(training.default_config(distill_dataset))
    print(f"test accuracy {distill_history.test_acc[-1]:.2%} after {sum(distill_history.seconds):.1f} s of training")
    assert distill_history.test_acc[-1] > (0.1 if FAST else 0.85)
distill_model.eval()
_, loader = data.get_loaders(distill_dataset, batch_size=1024)
X_all, y_all = (torch.cat(t) for t in zip(*loader))  # the test set (fast mode: its 1,024-image subset)
top = patches.top_patches(distill_model, X_all, k=9, spec=distill_spec)  # computed once: the sliders only index it
print(f"{len(X_all):,} {distill_dataset} test images; for each layer and channel, the 9 strongest:")
print("layer     channels  patch (= receptive field)  top-9 images with the same label")
share = {}
for name, layer_patches in top.layers.items():
    assert layer_patches.patches.shape[-2:] == (layer_patches.rf, layer_patches.rf)
    share[name] = float(patches.top_label_share(layer_patches, y_all).mean())
    print(f"{name:8s} {layer_patches.channels:9d}  {layer_patches.rf:3d} x {layer_patches.rf:<3d}"
          f"                  {share[name]:.0%}")

# %%
first_layer, last_layer = list(share)[0], list(share)[-1]
trend = "more" if share[last_layer] > share[first_layer] else "not more"
print(f"In this run a {last_layer} channel's top 9 images share one label {share[last_layer]:.0%} of the time on "
      f"average, {first_layer}'s {share[first_layer]:.0%}: the deep channels are {trend} specific to one class.")

# %% [markdown]
# The overview (a static figure, readable without a kernel): one row per layer, the 4 strongest patches of the
# first 6 channels. Patches of every row are drawn at the same size; the label says their real size.

# %%
patch_explorer.patch_overview(top, ["conv1_1", "conv1_2", "conv2_2", "conv3_1", "conv3_3"])

# %% [markdown]
# **Explore:** any layer, any channel. The right panel shows where the strongest patch lies in its image.

# %%
patch_view = patch_explorer.PatchExplorer(top, y_all, distill_spec.classes)
patch_view.show(layer="conv2_2", channel=0)
patch_view

# %%
# The explorer only indexes what top_patches computed; the strongest patch is the crop of its image:
view = patch_view.show(layer="conv3_1", channel=2)
layer_patches = top.layers["conv3_1"]
assert torch.equal(view.data.nan_to_num(-1), layer_patches.patches[2].nan_to_num(-1))
t, left, _, _ = layer_patches.box(2, 0)
crop = patches.crop_box(top.images[int(layer_patches.image_index[2, 0])], t, left, layer_patches.rf)[0]
assert torch.equal(crop.nan_to_num(-1), view.data[0].nan_to_num(-1))
patch_view.static_figure(layer="conv3_3", channel=0)

# %% [markdown] tags=["summary"]
# ## Summary
#
# - A convolution slides a $k \times k$ kernel over the image: output$_{i,j} = \sum_{u,v} K_{u,v}\, x_{i+u,j+v}$ (+ bias);
#   Sobel $K_x = [[-1,0,1],[-2,0,2],[-1,0,1]]$, $K_y = K_x^\top$ estimate derivatives,
#   $|\nabla x| = \sqrt{(K_x*x)^2 + (K_y*x)^2}$.
# - A 1x1 convolution mixes channels at each pixel (e.g. RGB -> gray with 0.2125, 0.7154, 0.0721).
# - A trained network learns its kernels; each layer distils the previous maps: spatial size shrinks
#   (pooling), channels grow, each unit sees more of the input. Compute feature maps in eval mode
#   (`model.eval()`): in training mode BatchNorm uses the batch's own statistics.
# - Receptive field: $r_\ell = r_{\ell-1} + (k_\ell-1)\,j_{\ell-1}$, $j_\ell = j_{\ell-1} s_\ell$. The gradient of a
#   unit w.r.t. the input is zero outside its field; for one image it can be zero inside too (ReLU off,
#   max-pool passing one input of 4), so the field is measured by the union over many inputs.
# - A field is centred on its unit: in `mnist_small` the last layer's fields are 40 px, but only the 3x3 central
#   units of the 7x7 map see the whole 28x28 image.
# - Top-activating patches (Zeiler & Fergus): for each channel, the receptive-field crops of the images that
#   activate it most; small edges in layer 1, larger parts and whole shapes deeper.

# %% tags=["summary"]
from course_lib import models
from course_lib.models import patches

backbone = models.build_model("mnist", "gap_fc").backbone
print("layer     receptive field  jump")
for name, rf, jump in models.receptive_fields(backbone):
    print(f"{name:8s} {rf:10d} px  {jump:5d}")
print("units of the last 7x7 map that see the whole image:", int(patches.units_seeing_whole_input(backbone).sum()))

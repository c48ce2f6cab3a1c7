# %% [markdown]
# # Week 4 - Successive distillation in a conv stack
#
# **Goals.** A convolution slides a small kernel over an image. Hand-set kernels (Sobel) find edges and
# gradients in a real photo; a trained network learns its own kernels, and each layer distils the
# previous layer's maps into smaller maps with more channels, each unit seeing a larger patch of the
# input (its *receptive field*).
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Hand-set Sobel kernels equal scikit-image's `sobel_v`/`sobel_h`/`sobel` inside the photo (max
#   difference ~1e-7); a 1x1 convolution reproduces `rgb2gray`.
# - MNIST recipe capped to 1 epoch on 4,096 images: test accuracy 38.7 % (expect 20-60 %; the
#   feature maps are still rough); receptive fields 3, 5, 6, 10, 14, 16, 24, 32, 40 px, confirmed by
#   backpropagation (the last two are clipped to the 28-px image).
#
# **Expected results - full mode:**
# - The default MNIST recipe (8 epochs on 60,000 images): test accuracy 99.43 % after 66.1 s of
#   training (the same seeded run as week 3, identical accuracies). Receptive fields as in fast mode.
# - Measured on: 2-core Intel Xeon CPU with AMX, no GPU, torch 2.14.1+cu130 (2026-11-25), cores not
#   shared with other jobs during the run.

# %%
import skimage
import torch
from skimage import color, filters
from torch import nn

from course_lib import data, models, recipes, train, viz, widgets

FAST = data.is_fast_mode()
device = train.get_device()
print(recipes.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)

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
model, history = recipes.run_training(recipes.default_config("mnist"))
model.eval()
print(f"test accuracy {history.test_acc[-1]:.2%} after {sum(history.seconds):.1f} s of training")
assert history.test_acc[-1] > (0.1 if FAST else 0.99)
first = model.backbone.layers.conv1_1[0].weight.detach().cpu()  # (8,1,3,3)
viz.feature_map_grid(first[:, 0], "the learned 3x3 kernels of conv1_1 (compare with Sobel)")

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
                   title="successive distillation: each row is one layer's first 6 channels")

# %% [markdown]
# ## 3. Receptive fields
#
# A unit's receptive field is the square of input pixels it depends on. Walking through the layers,
# with kernel size $k$, stride $s$ and *jump* $j$ (the distance in input pixels between neighbouring units):
#
# $$r_\ell = r_{\ell-1} + (k_\ell - 1)\, j_{\ell-1}, \qquad j_\ell = j_{\ell-1}\, s_\ell, \qquad r_0 = j_0 = 1.$$
#
# `course_lib.models.receptive_fields` computes it; backpropagation measures it: the gradient of a unit
# with respect to the input is non-zero exactly on its receptive field.

# %%
rfs = models.receptive_fields(model.backbone)
x_rand = torch.randn(64, 1, 28, 28, requires_grad=True)
fmaps = model.backbone.feature_maps(x_rand.to(device))
print("layer     rf  jump  measured (rows)")
for name, rf, jump in rfs:
    i = (fmaps[name].shape[2] - 1) // 2  # a central unit
    grad, = torch.autograd.grad(fmaps[name][:, :, i, i].sum(), x_rand, retain_graph=True)
    rows = (grad.abs().sum((0, 1, 3)) > 0).nonzero().flatten()
    centre = i * jump + (jump - 1) / 2
    lo, hi = max(0, centre - (rf - 1) / 2), min(27, centre + (rf - 1) / 2)  # clipped to the image
    print(f"{name:8s} {rf:3d} {jump:5d}  {rows.min().item():2d}..{rows.max().item():2d} "
          f"({rows.max().item() - rows.min().item() + 1} px)")
    assert (rows.min().item(), rows.max().item()) == (lo, hi)
viz.bar_chart({name: rf for name, rf, _ in rfs}, "receptive field after each layer (input is 28 px)",
              "pixels", fmt="{:.0f}")

# %% [markdown] tags=["summary"]
# ## Summary
#
# - A convolution slides a $k \times k$ kernel over the image: output$_{i,j} = \sum_{u,v} K_{u,v}\, x_{i+u,j+v}$ (+ bias);
#   Sobel $K_x = [[-1,0,1],[-2,0,2],[-1,0,1]]$, $K_y = K_x^\top$ estimate derivatives,
#   $|\nabla x| = \sqrt{(K_x*x)^2 + (K_y*x)^2}$.
# - A 1x1 convolution mixes channels at each pixel (e.g. RGB -> gray with 0.2125, 0.7154, 0.0721).
# - A trained network learns its kernels; each layer distils the previous maps: spatial size shrinks
#   (pooling), channels grow, each unit sees more of the input.
# - Receptive field: $r_\ell = r_{\ell-1} + (k_\ell-1)\,j_{\ell-1}$, $j_\ell = j_{\ell-1} s_\ell$; it is where the
#   gradient of a unit w.r.t. the input is non-zero.

# %% tags=["summary"]
from course_lib import models

backbone = models.build_model("mnist", "gap_fc").backbone
print("layer     receptive field  jump")
for name, rf, jump in models.receptive_fields(backbone):
    print(f"{name:8s} {rf:10d} px  {jump:5d}")

# %% [markdown]
# # Week 1 - Images as tensors, Dataset and DataLoader
#
# **Goals.** See that an image is a tensor of numbers; load MNIST, Fashion-MNIST (and CIFAR-10/100
# when present) with `course_lib.data`; compute the normalization statistics; batch the data with a
# `Dataset` + `DataLoader`, and with the faster in-memory loader the rest of the course uses.
# Along the way: 6 exercises (predict, fill in, break it), each checked when you run its check cell.
#
# **Run modes.** `COURSE_FAST=1` (what CI runs) uses subsets; without it the notebook uses the full data.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - MNIST/Fashion-MNIST tensors `(60000, 1, 28, 28)` uint8 and `(10000, 1, 28, 28)`; statistics from a
#   6,000-image subset within 0.01 of the registry (measured: MNIST 0.1315 / 0.3090 vs 0.1307 / 0.3081,
#   Fashion-MNIST 0.2857 / 0.3537 vs 0.2860 / 0.3530).
# - One pass over the 4,096-image fast subset in batches of 128, median of 3 repeats of a second or more:
#   DataLoader 0.06-0.12 s, InMemoryLoader 0.01 s; the sentence below the timings says how many times faster
#   ("11.6 times faster" at load average 3, 2026-11-30), or "no clear difference" when the repeats' ranges
#   overlap (timings vary with machine load).
# - The 6 exercise checks say "NOT ANSWERED YET" until you answer; the "forget /255" run (the same 1,000
#   images in both modes) gives a maximum of 827.2 instead of 2.82.
# - Without Fashion-MNIST (optional; both modes): a NOTE says so, and the explorer and the statistics
#   use MNIST only.
#
# **Expected results - full mode:**
# - Statistics over all 60,000 training images equal the registry to 4 decimals:
#   MNIST mean 0.1307 std 0.3081, Fashion-MNIST mean 0.2860 std 0.3530.
# - One pass over the 60,000 MNIST training images in batches of 128 (no training, loading only):
#   DataLoader (per-image `__getitem__`) 2.67 s, InMemoryLoader (one tensor, normalized per batch) 0.34 s
#   (one pass each, before the timing used repeated medians; full mode now prints the median of 3 repeats).
# - Measured on: torch 2.14.1+cu130, AMD EPYC (avx512_bf16, no AMX), 2 CPU threads, no GPU (2026-11-30),
#   2 cores shared with other jobs (load average 6-9), so wall times are upper bounds.

# %%

import torch
from IPython.display import display
from torch.utils.data import DataLoader

from course_lib import data, exercises, repeated_timing, training
from course_lib.exercises import mistakes
from course_lib.explore import viz, widgets

FAST = data.is_fast_mode()
print(training.environment_line(), "| COURSE_FAST=1 (subsets)" if FAST else "| full mode")

# %% [markdown]
# ## 1. An image is a tensor
#
# `data.load_tensors(name, train)` returns the whole split as two tensors: images `(N, C, H, W)`
# (N images, C channels, H x W pixels) as `uint8` (0 = black ... 255 = white) and labels `(N,)` as `int64`.

# %%
spec = data.get_spec("mnist")
x_train, y_train = data.load_tensors("mnist", train=True)
x_test, y_test = data.load_tensors("mnist", train=False)
print(spec)
print("train images", tuple(x_train.shape), x_train.dtype, "labels", tuple(y_train.shape), y_train.dtype)
print("test images ", tuple(x_test.shape))
print("pixel range", x_train.min().item(), "...", x_train.max().item(), "| first labels", y_train[:8].tolist())
print("image 0, rows 10-13, columns 8-19:")
print(x_train[0, 0, 10:14, 8:20])
assert x_train.shape[1:] == spec.input_shape and len(x_train) == len(y_train)

# %%
viz.image_grid(x_train[:16], y_train[:16], spec.classes, title="MNIST: the first 16 training images")

# %% [markdown]
# Fashion-MNIST (photos of clothes, the same shape as MNIST) is optional: when `make data` could not get
# it, the cell below says so and the parts of this lesson that show it use MNIST instead.

# %%
HAS_FASHION = data.is_available("fashion_mnist")
if HAS_FASHION:
    fspec = data.get_spec("fashion_mnist")
    fx_train, fy_train = data.load_tensors("fashion_mnist", train=True)
    print("Fashion-MNIST", tuple(fx_train.shape), "classes:", ", ".join(fspec.classes))
    display(viz.image_grid(fx_train[:16], fy_train[:16], fspec.classes,
                           title="Fashion-MNIST: the first 16 training images"))
else:
    print("NOTE: Fashion-MNIST is not on this machine (`make data` printed why, and how to get it). "
          "The parts of this lesson that show it use MNIST instead.")
    fspec, fx_train, fy_train = spec, x_train, y_train

# %% [markdown]
# ### CIFAR-10 and CIFAR-100 (colour, 3 x 32 x 32)
#
# CIFAR images have three channels (red, green, blue), so one image is a `(3, 32, 32)` tensor. They are
# only shown when the files are present (`python -m course_lib data fetch cifar10` needs internet);
# otherwise the cell prints a note and the rest of the notebook does not depend on them.

# %%
for name in ("cifar10", "cifar100"):
    if not data.is_available(name):
        print(f"NOTE: {name} is not available on this machine, so its part is skipped. "
              f"To get it: `python -m course_lib data fetch {name}` (needs internet).")
        continue
    cspec = data.get_spec(name)
    cx, cy = data.load_tensors(name, train=True)
    print(name, tuple(cx.shape), cx.dtype, f"{cspec.num_classes} classes")
    display(viz.image_grid(cx[:16], cy[:16], cspec.classes, title=f"{name}: the first 16 training images"))

# %% [markdown]
# ## 2. Normalization statistics
#
# Networks train better on inputs centred at 0 with spread 1. Per channel $c$, over all training pixels:
#
# $$\mu_c = \operatorname{mean}(x/255), \qquad \sigma_c = \operatorname{std}(x/255), \qquad
# \hat{x} = \frac{x/255 - \mu_c}{\sigma_c}.$$
#
# The registry (`data.DATASETS`) stores $\mu, \sigma$; here we recompute them (fast mode: a subset).
#
# ### Exercise 1 - Predict: a black pixel after normalization
#
# MNIST's $\mu \approx 0.13$ and $\sigma \approx 0.31$ (printed below). What does a black pixel ($x = 0$)
# become? Two decimals are enough.

# %%
my_answer = ...  # a number

# %%
exercises.check("week01/black-pixel", my_answer)

# %%
n = 6000 if FAST else None  # fast mode: a subset of the training images
for name, images in [("mnist", x_train)] + ([("fashion_mnist", fx_train)] if HAS_FASHION else []):
    mean, std = data.compute_stats(images[:n])
    reg = data.get_spec(name)
    print(f"{name:14s} computed mean {mean[0]:.4f} std {std[0]:.4f} | registry mean {reg.mean[0]:.4f} "
          f"std {reg.std[0]:.4f} | {len(images[:n])} images")
    tol = 0.01 if FAST else 1e-4
    assert abs(mean[0] - reg.mean[0]) < tol and abs(std[0] - reg.std[0]) < tol

xn = data.normalize(x_train[:n], spec)  # uint8 (N,1,28,28) -> float32, (x/255 - mean) / std
print(f"after normalize: mean {xn.mean():.3f}, std {xn.std():.3f}, dtype {xn.dtype}")

# %% [markdown]
# ## 3. Dataset: one item at a time
#
# A map-style `Dataset` answers two questions: `len(ds)` and `ds[i]` -> `(image, label)`.
# `data.TensorImageDataset` normalizes image `i` when it is asked for.

# %%
ds = data.TensorImageDataset(x_train, y_train, spec)
image, label = ds[0]
print("len(ds) =", len(ds), "| ds[0] ->", tuple(image.shape), image.dtype, "label", label)

# %% [markdown]
# ## 4. DataLoader: batches
#
# A `DataLoader` asks the Dataset for `batch_size` items (in a shuffled order when `shuffle=True`) and
# stacks them: images `(B, C, H, W)`, labels `(B,)`. The last batch may be smaller.

# ### Exercise 2 - Predict: the shape of one batch
#
# `DataLoader(ds, batch_size=64)` over MNIST: what is the shape of the images `X` of one batch?

# %%
my_answer = ...  # a tuple

# %%
exercises.check("week01/batch-shape", my_answer)

# %%
loader = DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
X, y = next(iter(loader))
print("batch X", tuple(X.shape), X.dtype, "| y", tuple(y.shape), y.dtype)
print("batches per epoch:", len(loader), "=", f"ceil({len(ds)} / 64)")
print("last batch size:", len(ds) - (len(loader) - 1) * 64)
viz.image_grid(data.denormalize(X[:16], spec), y[:16], spec.classes, title="one shuffled batch (first 16 of 64)")

# %% [markdown]
# ### The same batches, faster: keep the whole dataset as one tensor
#
# Per-image Python calls cost more than the arithmetic on a 28 x 28 image. `data.InMemoryLoader` slices
# the uint8 tensor and normalizes a whole batch at once. Both loaders must give identical numbers:

# %%
mem = data.InMemoryLoader(x_train, y_train, spec, batch_size=128)  # no shuffling: images 0..127 first
Xm, ym = next(iter(mem))
Xd = torch.stack([ds[i][0] for i in range(128)])
assert torch.allclose(Xm, Xd) and torch.equal(ym, y_train[:128])
print("InMemoryLoader batch == 128 DataLoader items stacked:", torch.allclose(Xm, Xd))


# %%
def one_pass(loader):
    """Read every batch of `loader` once (loading only, no training)."""
    return lambda: [None for _ in loader]


# get_loaders honours COURSE_FAST (a 4,096-image subset); full mode: all 60,000 training images
dl_train, _ = data.get_loaders("mnist", batch_size=128, in_memory=False)
mem_train, _ = data.get_loaders("mnist", batch_size=128, in_memory=True)
n_images = len(dl_train.dataset)
# each setup is repeated for at least a second, 3 times, interleaved; the median counts (course_lib.repeated_timing)
timings = repeated_timing.measure({"DataLoader": one_pass(dl_train), "InMemoryLoader": one_pass(mem_train)},
                                  work_per_call=n_images, repeats=3)
for t in timings:
    print(f"{t.label:15s} {n_images / t.rate:6.3f} s per pass over {n_images} images: {t.describe()}")
print(repeated_timing.compare_speed(timings[1], timings[0]))
viz.bar_chart({t.label: n_images / t.rate for t in timings},
              f"one pass over {n_images} MNIST images, batches of 128 (median of 3 repeats)", "seconds", fmt="{:.3f}")

# %% [markdown]
# ## 5. Explore the data
#
# Pick a class and an example: the image, the raw numbers in the red box, and the histogram of the
# normalized values. The sliders only index tensors that are already in memory.
#
# ### Exercise 3 - Predict: what will the histogram show?
#
# Before moving the sliders: for most images, where is the tallest bar of the histogram of normalized values?
#
# - (a) at 0: normalization centres every image
# - (b) below 0, at the value of a black pixel (-mean / std)
# - (c) at the value of a white pixel ((1 - mean) / std)
# - (d) nowhere in particular: the values are spread evenly
#
# Answer, run the check, then move the sliders below.

# %%
my_answer = ...  # "a", "b", "c" or "d"

# %%
exercises.check("week01/histogram-peak", my_answer)

# %%
explorer = widgets.SampleExplorer(fx_train, fy_train, fspec)
explorer

# %%
# Static view (the explorer's default setting) for reading this notebook without a kernel
explorer.static_figure()

# %% [markdown]
# ## 6. Your turn: normalization by hand
#
# ### Exercise 4 - Fill in: normalize a batch
#
# Write `normalize_batch(images, mean, std)`: uint8 images `(N, C, H, W)` and the data set's per-channel
# `mean` and `std` (tuples, as in `data.get_spec(name)`) -> float images $(x/255 - \mu_c)/\sigma_c$. The
# check compares it with `data.normalize` on 3-channel (CIFAR-shaped) batches.

# %%
def normalize_batch(images, mean, std):
    ...  # your code


# %%
exercises.check("week01/normalize", normalize_batch)

# %% [markdown]
# ### Exercise 5 - Fill in: the per-channel statistics
#
# Write `channel_stats(images)`: uint8 images `(N, C, H, W)` -> a float64 tensor `(2, C)`, row 0 the mean
# and row 1 the (population) std of `pixel/255` of each channel over all images. The check compares it with
# `data.compute_stats`.

# %%
def channel_stats(images):
    ...  # your code


# %%
exercises.check("week01/channel-stats", channel_stats)

# %% [markdown]
# ### Exercise 6 - Break it: forget the division by 255
#
# What happens to the normalized values if the code computes $(x - \mu)/\sigma$ with $x$ still in 0..255?
#
# - (a) nothing changes: the values are the same
# - (b) the values are about 255 times too large: mean around 100 and a maximum in the hundreds
# - (c) every value becomes 0
# - (d) PyTorch raises an error about the dtype
#
# Predict, then run the cell after it (`mistakes.forgotten_255` on 1,000 MNIST training images).

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
run = mistakes.forgotten_255(x_train[:1000], spec)
print(f"right:        mean {run.right_mean:7.3f}, std {run.right_std:7.3f}, max {run.right_max:7.2f}")
print(f"without /255: mean {run.broken_mean:7.1f}, std {run.broken_std:7.1f}, max {run.broken_max:7.1f}")

# %%
exercises.check("week01/forget-255", my_prediction)

# %% [markdown] tags=["summary"]
# ## Summary
#
# - An image is a tensor `(C, H, W)`: MNIST/Fashion-MNIST `(1, 28, 28)`, CIFAR `(3, 32, 32)`;
#   a batch is `(B, C, H, W)` and its labels `(B,)` (`int64` class indices).
# - Raw pixels are `uint8` in 0..255; we feed the network $\hat x = (x/255 - \mu_c)/\sigma_c$ with the
#   training set's per-channel mean $\mu_c$ and std $\sigma_c$ (MNIST 0.1307 / 0.3081). A black pixel becomes
#   $-\mu/\sigma$ (MNIST -0.42): most normalized values pile up there, the strokes reach $(1-\mu)/\sigma$ (2.82).
# - `Dataset`: `len(ds)` and `ds[i] -> (image, label)`; `DataLoader`: batches of `batch_size`,
#   shuffled each epoch for training, `ceil(N / B)` batches per epoch.
# - Keeping the whole dataset as one tensor and normalizing a batch at a time
#   (`data.InMemoryLoader`) gives the same numbers much faster (60,000 images: 0.34 s vs 2.67 s for the
#   DataLoader, measured on a shared 2-core AMD EPYC).

# %% tags=["summary"]
from course_lib import data

for name in data.DATASETS:
    s = data.get_spec(name)
    print(f"{name:14s} input {s.input_shape}, {s.num_classes:3d} classes, mean {s.mean}, std {s.std}, "
          f"available here: {data.is_available(name)}")

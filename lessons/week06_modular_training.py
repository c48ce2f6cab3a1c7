# %% [markdown]
# # Week 6 - Modular training: one backbone, four heads, several datasets
#
# **Goals.** Because a model is `backbone.forward_features` + a head from one factory, changing the head
# is one field of the config. Train each head on MNIST and Fashion-MNIST (and CIFAR-10/100 when they are
# present) with `course_lib.training.run_training`, and compare accuracy, parameters and time. Then settle a
# puzzle: gap_fc and conv1x1_gap compute the same function, yet reach different accuracies. Why?
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - 4 heads x 2 datasets, 1 epoch (32 steps) on the 4,096-image subset each, tested on 1,024 test images
#   (the same accuracies in every fast run here):
#
#   | head | MNIST | Fashion-MNIST |
#   |---|---|---|
#   | gap_fc | 34.18 % | 42.09 % |
#   | conv1x1_gap | 36.82 % | 42.38 % |
#   | flatten_fc | 88.38 % | 75.20 % |
#   | conv1x1_flatten_fc | 84.86 % | 72.36 % |
#
#   Fashion-MNIST and CIFAR rows are skipped (with a NOTE) when their files are absent, in both modes.
# - Time per training step (section 3; 3 repeats of 1.0-1.3 s each): medians of 1,231-1,765 images/s over the
#   heads in two runs; in each run every head's range overlapped gap_fc's, read as "no clear difference".
# - The GAP twins (section 4; the same 32 steps in both modes, only the test set differs): float32 weights
#   8.9e-08 apart after step 1 and 6.4e-03 after 32, test accuracy 54.69 % vs 54.49 %; float64 6.5e-15 apart,
#   identical test logits and accuracy (47.46 %).
# - Evaluating in train mode (section 5; the same in both modes): eval mode 54.69 %, train mode in batches of 8
#   70.41 %, eval mode with recomputed running statistics 80.37 %.
# - The whole notebook: 78 s (load average 6 from other jobs) to 113 s (load 9).
#
# **Expected results - full mode:**
#
# | head | params (head) | MNIST acc | Fashion acc |
# |---|---|---|---|
# | gap_fc | 7,966 (170) | 98.69 % | 85.97 % |
# | conv1x1_gap | 7,966 (170) | 98.70 % | 85.95 % |
# | flatten_fc | 15,646 (7,850) | 99.03 % | 88.89 % |
# | conv1x1_flatten_fc | 15,918 (8,122) | 98.92 % | 88.52 % |
#
# - One epoch over all 60,000 training images, tested on all 10,000 test images (MNIST recipe: bf16, and with
#   1 epoch no augmentation, since the recipe's last 2 epochs are un-augmented; Fashion-MNIST recipe: float32).
# - Time per training step: 5 repeats of 1.0-1.1 s; medians 1,590-1,878 images/s over the heads, every range
#   overlapping gap_fc's: "no clear difference".
# - The GAP twins: float32 test accuracy 55.10 % vs 55.43 % on 10,000 images; float64 47.94 % for both, test
#   logits within 1.1e-13. Evaluating in train mode: as in fast mode.
# - The whole notebook: 388 s (load average 7.5-8 from other jobs).
#
# Measured on: torch 2.14.1+cu130, AMD EPYC (avx512_bf16, no AMX), 2 CPU threads, no GPU, Python 3.11,
# 2026-11-30, on a machine shared with other jobs (load averages above).

# %%
import inspect

import torch

from course_lib import data, exercises, models, training
from course_lib.config import TrainConfig
from course_lib.exercises import week06
from course_lib.explore import timeline_viz, viz
from course_lib.models import heads
from course_lib.repeated_timing import comparison_lines
from course_lib.training import head_comparison

FAST = data.is_fast_mode()
print(training.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode")

# %% [markdown]
# ## 1. One visible config
#
# Every run is described by one `TrainConfig`: a dataclass of defaults with a comment per field. A
# recipe (`training.default_config(dataset)`) overrides some of them; we override `head` and `epochs`.

# %%
print(inspect.getsource(TrainConfig).split("    def ")[0])  # the fields, with their comments

# %% [markdown]
# A few fields appear here for the first time:
#
# > **channels_last** is a memory layout, not a different tensor. A batch is indexed (N, C, H, W) either way;
# > the default layout stores each channel's H x W plane in one block (NCHW), channels_last stores the C values
# > of one pixel side by side (NHWC). Some convolution kernels are faster on one layout: in the README's
# > `make bench` runs (an Intel Xeon) it slowed the tiny MNIST net and sped up the CIFAR net. The cell below
# > shows that only the strides (how far to jump in memory per index step) change.
# >
# > **weight_decay** adds $\lambda \|W\|^2/2$ to the loss (SGD then shrinks every weight a little each step);
# > **label_smoothing** trains on softened targets (with 0.1 and 10 classes: 0.91 for the true class, 0.01 for
# > each other class, instead of 1 and 0); **bf16** is a 16-bit float format
# > used for the forward pass when it is on (week 3 explains it and measures it).

# %%
x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)  # (N, C, H, W)
x_cl = x.contiguous(memory_format=torch.channels_last)  # same shape, same values, another layout
print("shape", tuple(x.shape), "| NCHW strides", x.stride(), "| channels_last strides", x_cl.stride())
assert torch.equal(x, x_cl) and x_cl.is_contiguous(memory_format=torch.channels_last)
print("memory order, NCHW:         ", x.flatten().tolist()[:8], "...")  # channel 0's plane first
print("memory order, channels_last:", x_cl.permute(0, 2, 3, 1).flatten().tolist()[:8], "...")  # pixel by pixel

# %% [markdown]
# ## 2. Every head on every dataset
#
# Same backbone, same recipe, same number of epochs; only the head changes. Fashion-MNIST and CIFAR run only
# when their files are present (CIFAR is slow without a GPU).
#
# ### Exercise 1 (Predict): the parameters of a flatten head
# CIFAR-10's backbone ends with a 128 x 8 x 8 feature map and there are 10 classes. How many parameters does
# the `flatten_fc` head have? Work it out by hand, then check.

# %%
my_answer = ...  # a number

# %%
exercises.check("week06/cifar-flatten-params", my_answer)

# %% [markdown]
# ### Exercise 2 (Predict): a 1x1 conv before the flatten
# `conv1x1_flatten_fc` squeezes MNIST's 16 x 7 x 7 map to r = 16 channels with a 1x1 conv (with bias), applies a
# ReLU, then flattens into a Linear to 10 classes. How many parameters? (The table below will show it too.)

# %%
my_answer = ...  # a number

# %%
exercises.check("week06/squeeze-flatten-params", my_answer)

# %%
datasets = ["mnist"]
for name in ("fashion_mnist", "cifar10", "cifar100"):
    if data.is_available(name):
        datasets.append(name)
    else:
        how = "`make data`" if name == "fashion_mnist" else f"`python -m course_lib data fetch {name}` (needs internet)"
        print(f"NOTE: {name} is not available here; its rows are skipped. To get it: {how}.")

results, histories = [], {}
for dataset in datasets:
    for head in heads.HEADS:
        config = training.default_config(dataset, head=head, epochs=1)  # fast mode: a 4,096-image subset
        # 1 epoch <= the recipe's clean_epochs (the last epochs train un-augmented): say so in the printed config
        config = config.replace(augment=config.augment and config.epochs > config.clean_epochs)
        print(f"\n=== {dataset} / {head} ===")
        model, history = training.run_training(config, progress=True)
        histories[(dataset, head)] = history
        results.append({"dataset": dataset, "head": head, "params": models.count_parameters(model),
                        "head params": models.count_parameters(model.head), "test acc": history.test_acc[-1]})

# %%
print(training.environment_line())
print(f"{'dataset':14s} {'head':20s} {'parameters':>10s} {'of which head':>13s} {'test acc':>9s}")
for r in results:
    print(f"{r['dataset']:14s} {r['head']:20s} {r['params']:10,d} {r['head params']:13,d} {r['test acc']:9.2%}")
assert max(r["test acc"] for r in results) > 0.5  # at least the flatten heads learn, even in fast mode
if not FAST:  # a full epoch: every head learned something (chance is 10% / 1%)
    for r in results:
        assert r["test acc"] > 1.5 / data.get_spec(r["dataset"]).num_classes, r


# %%
def by_dataset(key, scale=1.0):
    return {d: {r["head"]: r[key] * scale for r in results if r["dataset"] == d} for d in datasets}


viz.bar_chart(by_dataset("test acc", 100), "test accuracy after 1 epoch", "test accuracy (%)",
              fmt="{:.1f}", rotate=15)

# %%
viz.bar_chart(by_dataset("head params"), "parameters in the head (the backbone is shared)",
              "parameters (log scale)", logy=True, fmt="{:,.0f}", rotate=15)

# %% [markdown]
# ## 3. Time per training step, measured so that it can be trusted
#
# One training run per head gives one time each, and on a shared machine the same run can take twice as long
# an hour later. So the time is measured separately: every head's model trains on one fixed batch (the MNIST
# recipe: 128 images, bf16 as in the runs above), each repeat lasting at least a second, the heads interleaved
# so they share the machine's noise (`course_lib.repeated_timing`). We report the **median** of the repeats
# and the **range** from the slowest to the fastest repeat. The rule that turns them into words: two setups
# differ only when their ranges do not overlap; then the ratio of the medians says by how much.

# %%
timings = head_comparison.time_heads("mnist", repeats=3 if FAST else 5)
print(training.environment_line())
for t in timings:
    print(f"{t.label:20s} {t.describe()}")
print()
for line in comparison_lines(timings):  # each head against gap_fc, worded by the rule
    print("-", line)
timeline_viz.timing_chart(timings, "MNIST model, one training step of 128 images, per head")

# %% [markdown]
# ### Exercise 3 (Fill in): faster, or no clear difference?
# Write the rule: given the seconds of each repeat of setup `a` and of setup `b` (the same work per repeat),
# return `None` when their ranges (fastest to slowest repeat) overlap, else how many times faster `a` is
# (the ratio of the median times, b over a). The check compares your function with
# `course_lib.repeated_timing` on several pairs of timings.

# %%
def speed_ratio(a_seconds, b_seconds):
    ...  # None, or how many times faster a is


# %%
exercises.check("week06/speed-ratio", speed_ratio)

# %% [markdown]
# **Reading the results.** The sentences below are computed from this run's table; every run prints its own.

# %%
for line in head_comparison.reading_lines(results):
    print("-", line)

# %% [markdown]
# What holds in both modes: the flatten heads have one weight per position, channel and class, so their head
# is dozens of times larger than a GAP head's; with digits and garments centred in the image, "what is at this
# position" is directly informative, which a flatten head can use from the first steps. The GAP heads are
# tiny, work at any input size and give class maps (week 5). The two GAP heads, though, should be twins...

# %% [markdown]
# ## 4. gap_fc and conv1x1_gap: the same function, different accuracies?
#
# Week 5 showed that GAP -> Linear and 1x1 conv -> GAP give identical logits when they share weights:
# averaging positions and applying a linear map commute. Both heads describe **the same set of functions**
# (the same function class): any gap_fc can be turned into a conv1x1_gap with identical outputs, and back. Yet
# in the table above their accuracies differ. Is it their random initial weights? Let us look.

# %%
torch.manual_seed(0)
gap_model = models.build_model("mnist", "gap_fc")
torch.manual_seed(0)
conv_model = models.build_model("mnist", "conv1x1_gap")
W_gap, W_conv = gap_model.head.fc.weight, conv_model.head.conv.weight  # (10, 16) and (10, 16, 1, 1)
print("head weights", tuple(W_gap.shape), "and", tuple(W_conv.shape))
same_start = (torch.equal(W_gap, W_conv.flatten(1)) and torch.equal(gap_model.head.fc.bias, conv_model.head.conv.bias)
              and all(torch.equal(p, q) for p, q in zip(gap_model.backbone.parameters(),
                                                        conv_model.backbone.parameters())))
print("same seed -> identical initial weights (backbone and head):", same_start)
assert same_start  # nn.Linear(16, 10) and nn.Conv2d(16, 10, 1) draw the same numbers from the same seed
X = torch.randn(64, 1, 28, 28)
gap_model.eval()
conv_model.eval()
with torch.no_grad():
    diff = (gap_model(X) - conv_model(X)).abs().max().item()
print(f"largest logit difference on 64 images: {diff:.2e} (float32 rounding: the heads add in another order)")
assert diff < 1e-5

# %% [markdown]
# So `run_training`, which seeds before it builds the model, started both GAP heads from **identical** weights
# and fed them identical batches. The only difference is the order of the arithmetic: mean-then-matmul vs
# matmul-then-mean, equal in exact arithmetic, equal to about 1e-8 in float32 (and to about 1e-3 with the
# MNIST recipe's bf16).
#
# ### Exercise 4 (Predict): twins in float32
# Train both heads from these identical weights, on identical batches, for 32 steps (4,096 images, the MNIST
# recipe's SGD at a constant learning rate 0.1), in float32 without bf16. Afterwards, are their weights
# `"a"` still identical to float32 rounding, or `"b"` visibly apart? Answer with a letter.

# %%
my_prediction = ...  # "a" or "b"

# %%
exercises.check("week06/float32-twins", my_prediction)

# %% [markdown]
# Now the experiment, twice: in float32, and in float64 (about 16 digits instead of 7: rounding errors about
# 1e-16 instead of 1e-8). Same start, same batches, same 32 steps in both modes (`head_comparison.train_twins`;
# the test images are the mode's test set).

# %%
twins = {dtype: head_comparison.train_twins("mnist", dtype) for dtype in (torch.float32, torch.float64)}
for run in twins.values():
    print(f"{run.dtype}: {run.steps} steps; identical at the start: {run.init_identical}; weights apart by "
          f"{run.weight_diff[0]:.1e} after the first step, {run.weight_diff[-1]:.1e} at the end; test logits "
          f"apart by {run.logit_diff:.1e} (largest logit {run.logit_scale:.1f}); test accuracy "
          f"{run.accuracy[0]:.2%} (gap_fc) vs {run.accuracy[1]:.2%} (conv1x1_gap)")
exact, rough = twins[torch.float64], twins[torch.float32]
assert exact.init_identical and rough.init_identical
assert torch.allclose(*exact.logits, rtol=0, atol=1e-9 * exact.logit_scale)  # float64: the same logits ...
assert exact.accuracy[0] == exact.accuracy[1]  # ... and the same accuracy
growth = rough.weight_diff[-1] / rough.weight_diff[0]
print(f"\nIn float32 the difference grew {growth:,.0f}-fold in {rough.steps} steps; in float64 it stayed below "
      f"{max(exact.weight_diff):.0e}, and the two heads give the same test logits to {exact.logit_diff:.0e}.")
viz.line_plot({f"{r.dtype}": [max(d, 1e-18) for d in r.weight_diff] for r in twins.values()},
              "gap_fc vs conv1x1_gap, identical start and batches", "training step",
              "largest |weight difference|", x=range(1, rough.steps + 1), logy=True)

# %% [markdown]
# **What this shows.** With shared initial weights and the same batches, the two heads *do* train to the same
# model: in float64 their test logits agree to rounding (the assert above) and so do their accuracies. In
# float32 the same experiment ends with visibly different weights (the printed numbers): training amplifies
# the tiny rounding differences. A ReLU or a max-pool that picks another input changes a gradient by far more
# than the rounding that caused it, and every later step builds on it. So the two GAP heads in the table are
# the same function class trained along two slightly different paths: their gap in accuracy comes from the
# path, not from either head. (Does float64 stay identical over a whole epoch of 469 steps? Try
# `head_comparison.train_twins("mnist", torch.float64, train_size=60_000)`: several minutes on 2 cores.)
#
# ### Exercise 5 (Fill in): share the weights yourself
# Copy gap_fc's Linear into conv1x1_gap's 1x1 conv, so that both heads give the same logits (what
# `heads.share_fc_weights` does). The check builds heads with *different* random weights and compares their
# logits after your function ran.

# %%
def share_weights(gap_head, conv_head):
    raise NotImplementedError  # copy gap_head.fc into conv_head.conv (weight and bias)


# %%
exercises.check("week06/share-weights", share_weights)

# %% [markdown]
# ## 5. Exercise 6 (Break it): evaluate in train mode
# `evaluate()` calls `model.eval()` and `torch.no_grad()`. Forget `model.eval()`, keep `no_grad`, and evaluate
# 1,024 test images in batches of 8 with a briefly trained MNIST model (which has BatchNorm). What happens?
#
# - `"a"` nothing changes: the same predictions, the same model
# - `"b"` the predictions change (each image's scores depend on the other images of its batch) and the
#   "evaluation" changes BatchNorm's running statistics, though no weight is updated
# - `"c"` the weights W are updated, as in training
# - `"d"` PyTorch raises an error
#
# Predict first, then run the broken variant (next cells).

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
broken = week06.evaluate_in_train_mode()  # trains 32 steps, then evaluates in eval mode and in train mode
print(f"eval mode: {broken['eval_accuracy']:.2%} right; train mode, batches of {broken['batch_size']}: "
      f"{broken['train_mode_accuracy']:.2%} right; {broken['predictions_changed']} of {broken['images']} "
      f"predictions changed")
print(f"the same image with other batch-mates: its logits move by up to {broken['same_image_other_batch']:.3f}")
print(f"running statistics changed: {broken['running_stats_changed']}; weights changed: {broken['weights_changed']}")
print(f"eval mode again, with the running statistics recomputed on the training images (no weight changed): "
      f"{broken['eval_accuracy_fresh_stats']:.2%}")
if broken["train_mode_accuracy"] > broken["eval_accuracy"]:
    print("Train mode scored higher than eval mode here: after only 32 steps BatchNorm's running statistics (an "
          "average over past batches) lag behind the weights; recomputed, eval mode scores "
          f"{broken['eval_accuracy_fresh_stats']:.2%}. Train mode's score still depends on how the test set "
          "is batched, which is not a property of the model.")

# %%
exercises.check("week06/eval-in-train-mode", my_prediction)

# %% [markdown] tags=["summary"]
# ## Summary
#
# - A model = `backbone.forward_features` + head; `build_model(dataset, head)` and
#   `TrainConfig(head=...)` swap heads without touching anything else (`reset_classifier` on a model).
# - Head parameters on a $C \times H \times W$ map with $K$ classes: GAP heads $CK + K$;
#   Flatten->FC $CHWK + K$; 1x1 conv (r) -> ReLU -> Flatten->FC $Cr + r + rHWK + K$.
# - gap_fc and conv1x1_gap are the same function class and start from identical weights with the same seed;
#   they still end apart in float32 because training amplifies rounding differences. In float64 (same start,
#   same batches) they train to the same logits.
# - Compare runs on equal footing: same backbone, recipe, epochs, seed; report accuracy, parameters,
#   time *and* the hardware and torch version they were measured on.
# - A timing is the median of several repeats (each about a second or more) with its range; "faster" only
#   when the ranges do not overlap, else "no clear difference".
# - Evaluate with `model.eval()` *and* `torch.no_grad()`: train mode makes BatchNorm use each batch's own
#   statistics and update its running ones.

# %% tags=["summary"]
from course_lib import data, models
from course_lib.models import heads

for dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100"):
    row = {h: models.count_parameters(models.build_model(dataset, h).head) for h in heads.HEADS}
    print(f"{dataset:14s} head parameters: {row}")

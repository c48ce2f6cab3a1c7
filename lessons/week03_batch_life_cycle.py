# %% [markdown]
# # Week 3 - The life cycle of one batch
#
# **Goals.** Follow one batch through a training step, one stage at a time:
# `to(device)` -> forward -> error `y_out - y_actual` -> loss (one number) -> $\partial E/\partial W$ ->
# update -> `argmax` gives the class index. At each stage: shapes, values and the device. Then see
# which images of the batch hurt most, what one step changes, and train for real with `course_lib`.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Untrained model: loss of the first batch ~2.3 (chance: log 10 = 2.30); one SGD step lowers it a
#   little (2.30 -> 2.27); 40 steps on the same batch drive it below half.
# - MNIST recipe capped to 1 epoch on the 4,096-image subset: test accuracy 38.7 % on 1,024 test images
#   (expect 20-60 %: a GAP head needs more steps than fast mode gives it), ~6 s.
#
# **Expected results - full mode:**
# - The default MNIST recipe (`recipes.default_config("mnist")`: 7,966 parameters, 8 epochs, bf16,
#   augmentation for 6 epochs then 2 on the plain images, 60,000 images): test accuracy 92.21 %,
#   88.99 %, 97.96 %, 98.74 %, 99.26 %, 99.35 %, 99.42 %, 99.43 % after epochs 1-8; 67.2 s of training
#   (8.1-8.7 s per epoch), 80 s for the whole notebook. The worst test images have losses 3-6.
#   `make bench` repeats this run with 5 seeds.
# - Measured on: 2-core Intel Xeon CPU with AMX, no GPU, torch 2.14.1+cu130 (2026-11-25), cores not
#   shared with other jobs during the run (the same machine ran 6-7 s per epoch an hour earlier).

# %%
import copy
import inspect

import torch
from torch import nn

from course_lib import data, lifecycle, models, recipes, train, viz, widgets

FAST = data.is_fast_mode()
device = train.get_device()
print(recipes.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)
spec = data.get_spec("mnist")
train_loader, test_loader = data.get_loaders("mnist", batch_size=64)
torch.manual_seed(0)
model = models.build_model("mnist", "gap_fc")
print(f"model: {models.count_parameters(model):,} parameters")

# %% [markdown]
# ## 1. The function that does it
#
# This is `course_lib.train.train_step`, the only place in the course where a batch is trained on.
# Every training loop (`fit`, the data-parallel one, the benchmarks) calls it:

# %%
print(inspect.getsource(train.train_step))

# %% [markdown]
# ## 2. Step through one batch
#
# `lifecycle.record_life_cycle` runs exactly these steps (with plain SGD, `lr = 0.1`) on a copy of the
# model and keeps every intermediate tensor; the slider walks through them (nothing is recomputed).

# %%
batch = next(iter(train_loader))
cycle = lifecycle.record_life_cycle(model, batch, lr=0.1, device=device)
stepper = widgets.BatchStepper(cycle, spec.classes, spec)
stepper

# %%
# The same walk-through as text (readable without a kernel)
for i, rec in enumerate(cycle.steps, start=1):
    print(f"{i}. {rec.name:10s} {rec.formula}")
    for line in rec.lines:
        print("      ", line)

# %%
# Static view of step 3 (the error of each image) for reading without a kernel
stepper.static_figure(step=2)

# %% [markdown]
# The recorded step is the same as course_lib's `train_step` (same loss, same new weights):

# %%
twin = copy.deepcopy(model).to(device)
result = train.train_step(twin, batch, nn.CrossEntropyLoss(), torch.optim.SGD(twin.parameters(), lr=0.1), device)
after = dict(cycle.model_after.named_parameters())
assert abs(result.loss.item() - cycle.loss_before) < 1e-5
assert all(torch.allclose(p, after[n], atol=1e-6) for n, p in twin.named_parameters())
assert result.correct.item() == (cycle.y_pred == cycle.y_actual).sum().item()
print(f"train_step: loss {result.loss.item():.4f}, {result.correct.item()}/{result.count} right "
      "== the stepper's record")

# %% [markdown]
# ## 3. Which images hurt most?
#
# The loss is the mean of the per-image losses, so the images with the largest loss contribute most to
# $\partial E/\partial W$: the update mostly tries to fix them.

# %%
stepper.worst_figure(8)

# %% [markdown]
# ## 4. What one step changes
#
# The weights move by `-lr * gradient`; on the same batch the loss drops a little and a few
# predictions may flip. Repeating the step on the *same* batch drives the loss towards 0: the network
# memorizes these 64 images (a quick sanity check that a model can learn at all).

# %%
changed = (cycle.y_pred != cycle.y_pred_after).sum().item()
print(f"loss on this batch: {cycle.loss_before:.4f} -> {cycle.loss_after:.4f}; "
      f"{changed} of {len(cycle.y_actual)} predictions changed")
assert cycle.loss_after < cycle.loss_before

twin = copy.deepcopy(model).to(device)
opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
repeat = [train.train_step(twin, batch, nn.CrossEntropyLoss(), opt, device).loss.item() for _ in range(40)]
assert repeat[-1] < 0.5 * repeat[0]
viz.line_plot({"loss on the same batch": repeat}, "40 steps on one batch: the network memorizes it",
              "step", "cross-entropy loss")

# %% [markdown]
# ## 5. Many batches: training with course_lib
#
# `fit` repeats the life cycle over every batch of every epoch and evaluates after each epoch
# (`model.eval()` + `torch.no_grad()`, no backward). `run_training` prints the config first; fast mode
# caps it at 1 epoch on a subset.
#
# The default MNIST recipe is tuned for laptops: 8k parameters, whole data set in memory, bf16
# autocast, OneCycle learning rate; the last epoch fine-tunes at a tiny learning rate. 99.3-99.5 %
# test accuracy after 8 epochs, under a minute on 2 CPU cores (`make bench` measures it against the
# classic PyTorch example).

# %%
config = recipes.default_config("mnist")
trained, history = recipes.run_training(config)
print(history.table())
print(f"training time {sum(history.seconds):.1f} s | {recipes.environment_line()}")
assert history.test_acc[-1] > (0.1 if FAST else 0.99)
viz.training_curves({"mnist gap_fc": history}, "MNIST with the default recipe")

# %% [markdown]
# After training, the test images with the largest loss are mostly the genuinely ambiguous ones:

# %%
logits, labels = train.predict(trained, test_loader, device)  # eval mode, no gradients
per_image = nn.functional.cross_entropy(logits, labels, reduction="none")  # (N,) one loss per test image
worst = per_image.argsort(descending=True)[:8]
print(f"mean test loss {per_image.mean():.3f}; the worst 8: {per_image[worst].numpy().round(2)}")
viz.image_grid(test_loader.images[worst], labels[worst], spec.classes, logits[worst].argmax(1),
               notes=[f"loss {per_image[i]:.1f}" for i in worst], title="the 8 test images with the largest loss")

# %% [markdown] tags=["summary"]
# ## Summary
#
# The life cycle of one batch (`course_lib.train.train_step`):
#
# 1. `X, y = X.to(device), y.to(device)` - data and weights must be on the same device.
# 2. forward: `y_out = f(X, W)`, shape `(N, K)`: one row of class scores per image.
# 3. error: $\operatorname{softmax}(y_{out}) - \operatorname{onehot}(y_{actual})$, one row per image, each row sums to 0.
# 4. loss: $E = \frac1N \sum_i \ell_i$ with $\ell_i = -\log p_{i,y_i}$ - one number (0-d tensor).
# 5. `optimizer.zero_grad()` then `loss.backward()`: $\partial E/\partial W$ for every weight, same shapes as $W$;
#    $\partial E/\partial y_{out} = \text{error}/N$.
# 6. `optimizer.step()`: $W \leftarrow W - \eta\,\partial E/\partial W$ (plain SGD).
# 7. `y_out.argmax(dim=1)`: the predicted class index of each image.
#
# The images with the largest $\ell_i$ push the weights hardest. Evaluation = steps 1, 2, 4, 7 only,
# in `model.eval()` under `torch.no_grad()`.

# %% tags=["summary"]
import torch

from course_lib import data, lifecycle, models, train

torch.manual_seed(0)
X, y = next(iter(data.get_loaders("mnist", batch_size=64, fast=True)[0]))
cycle = lifecycle.record_life_cycle(models.build_model("mnist", "gap_fc"), (X, y), lr=0.1, device=train.get_device())
for i, rec in enumerate(cycle.steps, start=1):
    print(f"{i}. {rec.name:10s} {rec.formula}")
print(f"loss on the batch: {cycle.loss_before:.4f} before one step, {cycle.loss_after:.4f} after")

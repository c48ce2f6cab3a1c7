# %% [markdown]
# # Week 3 - The life cycle of one batch
#
# **Goals.** Follow one batch through a training step, one stage at a time:
# `to(device)` -> forward -> error `softmax(y_out) - onehot(y_actual)` (the gradient of each image's
# cross-entropy with respect to its logits) -> loss (one number) -> $\partial E/\partial W$ -> update ->
# `argmax` gives the class index. At each stage: shapes, values and the device. See the computation graph
# autograd records from X and W to the loss node, derive the error from the loss and check it numerically,
# find which images push the weights hardest (per-image gradients), and train for real with `course_lib`.
# Along the way: 7 exercises (predict, fill in, break it), each checked when you run its check cell.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Untrained model, first batch: loss 2.3021 (chance: log 10 = 2.30); one plain SGD step lowers it to
#   2.2730. 40 plain SGD steps on that batch: 2.30 -> 1.69 (33 of 64 right); the same 40 with momentum 0.9:
#   -> 0.16 (63 of 64 right).
# - The graph: 28 operations, 23 weight leaves and X, ending in the loss node (a 0-d tensor). The
#   softmax-cross-entropy gradient formula agrees with finite differences to ~2e-10 and with autograd to ~2e-18.
# - Per-image gradient norms vs losses on the first batch: Spearman -0.18; 4 of the 8 largest gradient norms
#   are among the 8 largest losses.
# - Break it: without `zero_grad`, `||W.grad||` grows 0.60 -> 1.69 over 5 steps (0.54-0.70 with it);
#   softmax over dim 0 gives rows summing to 0.15-0.16; evaluating in train mode changes the same images'
#   logits by up to 1.7. The 7 exercise checks say "NOT ANSWERED YET" until you answer.
# - bf16 autocast vs float32 on one training step of 128 images, median of 3 interleaved repeats of a second
#   or more each: the printed sentence says "faster", "slower" or "no clear difference" from the ranges. On
#   this CPU without AMX it has gone both ways: bf16 1.3 times slower (2,330 vs 1,784 images/s, ranges apart,
#   load average 3-4, 2026-11-30) and, with the earlier best-of-5 method, x1.08-1.3 faster.
# - MNIST recipe capped to 1 epoch on the 4,096-image subset: test accuracy 34.18 % on 1,024 test images
#   (expect 20-60 %: a GAP head needs more steps than fast mode gives it), 1.4 s of training. On that
#   barely trained model the Spearman correlation is still -0.19, and the notebook says its worst test
#   images are digits it has not learned yet (no claim about them being ambiguous).
#
# **Expected results - full mode:**
# - First batch: loss 2.3353 -> 2.3026 after one step; 40 plain SGD steps -> 1.65 (37 of 64 right), with
#   momentum -> 0.15 (64 of 64 right). Spearman (loss, gradient norm) -0.09 on the untrained model.
# - The default MNIST recipe (`training.default_config("mnist")`: 7,966 parameters, 8 epochs, bf16,
#   augmentation for 6 epochs then 2 on the plain images, 60,000 images): test accuracy 90.05 %, 95.06 %,
#   97.65 %, 98.73 %, 99.13 %, 99.35 %, 99.45 %, 99.46 % after epochs 1-8; 245 s of training (15-46 s per
#   epoch as the machine's load changed), 303 s for the whole notebook. `make bench` repeats this run with
#   seeds 0-9; a second full run gave the same accuracies in 244 s. bf16 vs float32 (the earlier
#   best-of-5 method): x1.20 and x1.04 in the two runs; the repeated medians were measured in fast mode only.
# - On the trained model, per-image gradient norms and losses rank a training batch the same way:
#   Spearman 1.00, 8 of the 8 largest in both. Evaluating in train mode changes logits by up to 4.1.
# - The 8 worst test images have losses 3.0-5.9; the true class is the model's second choice for 4 of them.
# - Measured on: torch 2.14.1+cu130, AMD EPYC (avx512_bf16, no AMX), 2 CPU threads, no GPU (2026-11-30),
#   2 cores shared with other jobs (load average 7-10 during the full run).

# %%
import copy
import inspect

import torch
from torch import nn

from course_lib import data, exercises, models, repeated_timing, training
from course_lib.exercises import mistakes
from course_lib.explore import autograd_graph, per_sample_viz, viz, widgets
from course_lib.training import per_sample

FAST = data.is_fast_mode()
device = training.get_device()
print(training.environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| device:", device)
spec = data.get_spec("mnist")
train_loader, test_loader = data.get_loaders("mnist", batch_size=64)
torch.manual_seed(0)
model = models.build_model("mnist", "gap_fc")
print(f"model: {models.count_parameters(model):,} parameters")
print(model.backbone.layers.conv1_1)

# %% [markdown]
# > **BatchNorm** (`nn.BatchNorm2d`, in every conv block above). In train mode it normalizes each channel
# > with the mean and std *of the current batch*, then scales and shifts it with two learned weights; it also
# > keeps running averages of those statistics, which eval mode (`model.eval()`) uses instead. So an image's
# > output depends on its batch while training: exercise 7 below breaks this, and
# > [week 7](week07_many_devices.ipynb) shows what it does across devices.
#
# ## 1. The function that does it
#
# This is `course_lib.training.train_step`, the only place in the course where a batch is trained on.
# Every training loop (`fit`, the data-parallel one, the benchmarks) calls it:

# %%
print(inspect.getsource(training.train_step))

# %% [markdown]
# ### Exercise 1 - Predict: the shape of the head's gradient
#
# `loss.backward()` fills `model.head.fc.weight.grad`. What is its shape? Look at `model.head` if you
# need to, then write it as a tuple.

# %%
print(model.head)
my_answer = ...  # e.g. (3, 4)

# %%
exercises.check("week03/head-grad-shape", my_answer)

# %% [markdown]
# ### Exercise 2 - Predict: how many gradient tensors?
#
# How many tensors does one `loss.backward()` fill with a `.grad` in this model (not how many numbers)?

# %%
my_answer = ...  # a whole number

# %%
exercises.check("week03/grad-count", my_answer)

# %% [markdown]
# ### Exercise 3 - Predict: what does each row of the error add up to?
#
# In week 2, $\partial E/\partial y_{out} = (\operatorname{softmax}(y_{out}) - \operatorname{onehot}(y))/N$.
# What does one row of it (one image, all 10 classes) add up to?

# %%
my_answer = ...  # a number

# %%
exercises.check("week03/row-sum", my_answer)

# %% [markdown]
# ## 2. Step through one batch
#
# `training.record_life_cycle` runs exactly these steps (with plain SGD, `lr = 0.1`) on a copy of the
# model and keeps every intermediate tensor; the slider walks through them (nothing is recomputed).

# %%
batch = next(iter(train_loader))
cycle = training.record_life_cycle(model, batch, lr=0.1, device=device)
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
result = training.train_step(twin, batch, nn.CrossEntropyLoss(), torch.optim.SGD(twin.parameters(), lr=0.1), device)
after = dict(cycle.model_after.named_parameters())
assert abs(result.loss.item() - cycle.loss_before) < 1e-5
assert all(torch.allclose(p, after[n], atol=1e-6) for n, p in twin.named_parameters())
assert result.correct.item() == (cycle.y_pred == cycle.y_actual).sum().item()
print(f"train_step: loss {result.loss.item():.4f}, {result.correct.item()}/{result.count} right "
      "== the stepper's record")

# %% [markdown]
# ## 3. The loss node and the computation graph
#
# During the forward pass autograd records every operation that involves a tensor needing a gradient: a
# graph from the inputs X and the weights W to **the loss node**, the single number $E$ that `backward()`
# starts from. `autograd_graph.computation_graph` reads it by walking the loss's `grad_fn` chain back to the
# leaves. Autograd records only what needs a gradient, so we ask for $\partial E/\partial X$ too, to see X.

# %%
graph_model = copy.deepcopy(model).to(device)
X_graph = batch[0].to(device).requires_grad_(True)  # so that X appears as a leaf of the graph
loss = nn.functional.cross_entropy(graph_model(X_graph), batch[1].to(device))  # the loss node: 0-d
short = {n: n.replace("backbone.layers.", "").replace(".0.", ".conv.").replace(".1.", ".bn.")
         for n, _ in graph_model.named_parameters()}  # conv1_1.0.weight -> conv1_1.conv.weight
graph = autograd_graph.computation_graph(loss, {short[n]: p for n, p in graph_model.named_parameters()},
                                         inputs={"X": X_graph})
counts = graph.op_counts()
print(f"loss node: {graph.loss.label}, shape {graph.loss.shape}, value {loss.item():.4f}")
print(f"{sum(counts.values())} operations:", dict(counts))
print(f"{len(graph.of_kind('parameter'))} weight leaves, {len(graph.of_kind('input'))} input leaf")
assert graph.loss.shape == () and abs(loss.item() - cycle.loss_before) < 1e-5  # the same loss as the step
assert {n.label for n in graph.of_kind("parameter")} == set(short.values())  # every weight is a leaf

# %%
autograd_graph.draw_graph(graph, title=f"one batch's forward pass: X {tuple(X_graph.shape)} and "
                                       f"{len(graph.of_kind('parameter'))} weight tensors -> the loss E")

# %% [markdown]
# `loss.backward()` walks this graph from the loss node back to every leaf, applying the chain rule at each
# operation: it fills `.grad` of every weight (and here of X), with the gradients the step above recorded.

# %%
loss.backward()
recorded = cycle.steps[4].tensors  # the stepper's dE/dW, one tensor per weight
assert all(torch.allclose(p.grad.cpu(), recorded[n], atol=1e-6) for n, p in graph_model.named_parameters())
print("dE/dX:", tuple(X_graph.grad.shape), "| every dE/dW == the recorded step's")

# %% [markdown]
# ## 4. The error, derived from the loss
#
# The **error** the stepper shows is not a guess at "prediction minus label": it is exactly the gradient
# of the loss with respect to the logits. For one image with logits $z \in \mathbb{R}^K$ and true class $y$:
#
# 1. probabilities: $p_k = e^{z_k} / \sum_j e^{z_j}$ (softmax);
# 2. loss: $\ell = -\log p_y = -z_y + \log \sum_j e^{z_j}$;
# 3. the first term: $\partial(-z_y)/\partial z_k = -[k = y]$ (1 for the true class, else 0);
# 4. the second: $\partial \log \sum_j e^{z_j} / \partial z_k = e^{z_k} / \sum_j e^{z_j} = p_k$;
# 5. together: $\partial \ell / \partial z_k = p_k - [k = y]$, i.e. $\nabla_z \ell = p - \operatorname{onehot}(y)$;
# 6. the batch loss $E = \frac1N \sum_i \ell_i$, and $\ell_i$ depends only on row $i$ of $y_{out}$:
#    $\partial E/\partial y_{out} = (\operatorname{softmax}(y_{out}) - \operatorname{onehot}(y))/N$.
#
# Each step, checked numerically (float64): step 4 with autograd, step 5-6 with finite differences
# $(E(y_{out} + \epsilon e_{ik}) - E(y_{out} - \epsilon e_{ik}))/2\epsilon$ for every entry, and with autograd.

# %%
y_out = cycle.steps[1].tensors["y_out"].double()  # (N, K) logits of the batch
y_true = cycle.y_actual
N, K = y_out.shape
formula = (y_out.softmax(1) - nn.functional.one_hot(y_true, K)) / N  # steps 5-6

z = y_out[0].clone().requires_grad_(True)  # step 4: the gradient of log-sum-exp is the softmax
torch.logsumexp(z, 0).backward()
assert torch.allclose(z.grad, y_out[0].softmax(0), atol=1e-12)


def E(logits):
    return nn.functional.cross_entropy(logits, y_true)  # mean over the N images


eps, numeric = 1e-6, torch.zeros_like(y_out)
for i in range(N):
    for k in range(K):
        step = torch.zeros_like(y_out)
        step[i, k] = eps
        numeric[i, k] = (E(y_out + step) - E(y_out - step)) / (2 * eps)
auto = y_out.clone().requires_grad_(True)
E(auto).backward()
print(f"max |formula - finite differences| = {(formula - numeric).abs().max():.1e} over {N * K} entries")
print(f"max |formula - autograd|           = {(formula - auto.grad).abs().max():.1e}")
assert torch.allclose(formula, numeric, atol=1e-8) and torch.allclose(formula, auto.grad, atol=1e-12)

# %% [markdown]
# **When is the error `y_out - y` instead?** When the loss is a squared error on the raw outputs,
# $E_{sq} = \frac{1}{2N}\sum_i \lVert y_{out,i} - t_i \rVert^2$ with targets $t$ (here $t = \operatorname{onehot}(y)$):
# then $\partial E_{sq}/\partial y_{out} = (y_{out} - t)/N$, with no softmax. Both are "output minus
# target"; cross-entropy compares *probabilities* with the one-hot row, the squared error compares the raw
# outputs. The course trains with cross-entropy, so its error is `softmax(y_out) - onehot(y_actual)`:

# %%
t = nn.functional.one_hot(y_true, K).double()
auto_sq = y_out.clone().requires_grad_(True)
(0.5 * ((auto_sq - t) ** 2).sum(1).mean()).backward()  # E_sq
assert torch.allclose(auto_sq.grad, (y_out - t) / N, atol=1e-12)  # squared error: (y_out - t) / N
assert torch.allclose(auto.grad, formula, atol=1e-12)  # cross-entropy: (softmax - onehot) / N
gap = ((y_out - t) / N - auto.grad).abs().max().item()
print(f"squared error: dE/dy_out == (y_out - onehot)/N; cross-entropy: == (softmax - onehot)/N; "
      f"the two differ by up to {gap:.3f} here")
assert gap > 1e-3  # y_out - onehot is NOT the cross-entropy gradient

# %% [markdown]
# ### Exercise 4 - Break it: softmax over the wrong dimension
#
# `y_out` is `(N, K)`. What happens if the softmax runs over `dim=0` (the images) instead of `dim=1`
# (the classes)? Predict, then run the cell below it (`mistakes.softmax_over_batch` does it on this batch).
#
# - (a) an error: the shapes do not match
# - (b) nothing changes
# - (c) each class's column sums to 1 over the images, not each image's row: an image's probabilities,
#   and its loss, change with the other images in the batch
# - (d) all probabilities become 0

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
run = mistakes.softmax_over_batch(cycle.steps[1].tensors["y_out"], cycle.y_actual)
print(f"row sums (one per image): {run.row_sums.min():.3f} ... {run.row_sums.max():.3f}")
print(f"column sums (one per class): {run.column_sums.min():.3f} ... {run.column_sums.max():.3f}")
print(f"image 0's loss: {run.loss_in_batch:.3f} in the batch of {len(run.row_sums)}, {run.loss_alone:.3f} "
      f"in a batch of its first 4 images; with softmax(dim=1): {run.loss_right:.3f} in any batch")

# %%
exercises.check("week03/softmax-dim", my_prediction)

# %% [markdown]
# ## 5. Which images hurt most?
#
# The loss is the mean of the per-image losses, so $\partial E/\partial W = \frac1N\sum_i \partial\ell_i/\partial W$
# exactly: image $i$ pushes the weights by $\partial\ell_i/\partial W$ (divided by $N$). The size of that push is
# the norm $\lVert\partial\ell_i/\partial W\rVert$ - not the loss $\ell_i$ itself. `per_sample.per_sample_gradients`
# computes every $\partial\ell_i/\partial W$ (one backward pass per image through this batch's graph, so
# BatchNorm keeps the batch statistics the real step used); their mean is the step's gradient:

# %%
grad_model = copy.deepcopy(model).to(device).train()  # the model before the step, in train mode like the step
grads = per_sample.per_sample_gradients(grad_model, cycle.X.to(device), cycle.y_actual.to(device))
assert all(torch.allclose(grads[n].mean(0).cpu(), recorded[n], atol=1e-5) for n in grads)  # mean == dE/dW
grad_norm = per_sample.flat_norms(grads).cpu()  # (N,) ||dl_i/dW|| over all 23 weight tensors
losses = cycle.per_sample_loss
rho = per_sample.rank_correlation(losses, grad_norm)
overlap = per_sample.top_k_overlap(grad_norm, losses, 8)
strength = "strong" if abs(rho) >= 0.7 else "moderate" if abs(rho) >= 0.4 else "weak"
print(f"per-image losses {losses.min():.3f} ... {losses.max():.3f}; gradient norms "
      f"{grad_norm.min():.3f} ... {grad_norm.max():.3f}")
print(f"Spearman rank correlation (loss, gradient norm) = {rho:.2f}: a {strength} relation on this batch; "
      f"{overlap} of the 8 largest gradient norms are also among the 8 largest losses")

# %%
per_sample_viz.loss_vs_gradient_figure(losses, grad_norm, 8,
                                   title=f"untrained model, one batch: Spearman {rho:.2f}")

# %%
hurt = grad_norm.argsort(descending=True)[:8]  # ranked by the size of each image's push
preds = cycle.y_pred[hurt]
viz.image_grid(data.denormalize(cycle.X[hurt], spec), cycle.y_actual[hurt], [f"true {c}" for c in spec.classes],
               notes=[f"pred {int(p)}{' (wrong)' if p != y else ''}\n|g| {grad_norm[i]:.2f}, loss {losses[i]:.2f}"
                      for i, p, y in zip(hurt, preds, cycle.y_actual[hurt])],
               title="the 8 images that push the weights hardest (largest ||dl_i/dW||)")

# %% [markdown]
# On an untrained model all losses are near $\log 10 = 2.30$ (the printed range), so ranking by the loss and
# ranking by the push can disagree: how much, on this batch, is the printed rank correlation (1 = the same
# order, 0 = unrelated, -1 = reversed). Section 7 repeats the measurement on a trained model.
#
# ## 6. What one step changes, and repeating it
#
# The weights move by `-lr * gradient`; on the same batch the loss drops a little and some
# predictions may flip (the cell counts them).

# %%
changed = (cycle.y_pred != cycle.y_pred_after).sum().item()
print(f"loss on this batch: {cycle.loss_before:.4f} -> {cycle.loss_after:.4f}; "
      f"{changed} of {len(cycle.y_actual)} predictions changed")
assert cycle.loss_after < cycle.loss_before

# %% [markdown]
# > **Momentum.** SGD with momentum $\beta$ keeps a running sum of past gradients, $v \leftarrow \beta v + g$,
# > and steps along it, $W \leftarrow W - \eta v$: where gradients keep pointing the same way the steps grow
# > (up to $1/(1-\beta)$ = 10 times for $\beta = 0.9$). The course's recipe uses $\beta = 0.9$ (Nesterov);
# > [week 6](week06_modular_training.ipynb) shows where it sits in the config.
#
# Repeating *this* step (plain SGD, lr 0.1) 40 times on the same batch, and the same 40 steps with
# momentum 0.9. Driving the loss of one batch towards 0 (memorizing it) is a quick check that a model can
# learn at all; the cell prints how far each gets:

# %%
repeat, right_at_last = {}, {}
for momentum in (0.0, 0.9):
    twin = copy.deepcopy(model).to(device)
    opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=momentum)
    steps = [training.train_step(twin, batch, nn.CrossEntropyLoss(), opt, device) for _ in range(40)]
    repeat[f"SGD, momentum {momentum}"] = [s.loss.item() for s in steps]
    right_at_last[momentum] = steps[-1].correct.item()  # right answers at step 40 (before its update)
plain, heavy = repeat["SGD, momentum 0.0"], repeat["SGD, momentum 0.9"]
print(f"40 plain SGD steps: loss {plain[0]:.3f} -> {plain[-1]:.3f}, {right_at_last[0.0]}/{len(batch[1])} right; "
      f"with momentum 0.9: {heavy[0]:.3f} -> {heavy[-1]:.3f}, {right_at_last[0.9]}/{len(batch[1])} right")
assert plain[-1] < plain[0] and heavy[-1] < 0.5 * heavy[0] and heavy[-1] < plain[-1]
viz.line_plot(repeat, f"40 steps on one batch of {len(batch[1])}: {right_at_last[0.0]} right (plain SGD), "
              f"{right_at_last[0.9]} right (momentum)", "step", "cross-entropy loss")

# %% [markdown]
# ### Exercise 5 - Fill in: one training step by hand
#
# Write the life cycle of one batch yourself (the batch is already on the device): forward, the loss node,
# forget old gradients, backward, update. Return the loss. The check runs your function for two steps and
# compares every weight with `training.train_step`'s.

# %%
def train_one_step(model, optimizer, X, y):
    ...  # your code: forward, loss, zero_grad, backward, step; return the loss


# %%
exercises.check("week03/one-step", train_one_step)

# %% [markdown]
# ### Exercise 6 - Break it: drop `optimizer.zero_grad()`
#
# Five plain SGD steps on five batches, once as in `train_step` and once without `zero_grad()`. Predict:
#
# - (a) nothing changes: the same losses and weights as with zero_grad
# - (b) `W.grad` holds the sum of all gradients so far: it grows step after step, so each update is no
#   longer this batch's gradient
# - (c) PyTorch raises an error at the second `backward()`
# - (d) the weights stop changing after the first step

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
five = [b for _, b in zip(range(5), train_loader)]
run = mistakes.forgotten_zero_grad(model, five)
print("step | loss with zero_grad | without | ||W.grad|| with | without")
for s in range(5):
    print(f"{s + 1:4d} | {run.losses_right[s]:19.4f} | {run.losses_broken[s]:7.4f} | "
          f"{run.grad_norm_right[s]:15.3f} | {run.grad_norm_broken[s]:7.3f}")
print("without zero_grad, W.grad == the sum of every gradient so far:", run.grad_is_running_sum)

# %%
exercises.check("week03/no-zero-grad", my_prediction)

# %% [markdown]
# ## 7. Many batches: training with course_lib
#
# `fit` repeats the life cycle over every batch of every epoch and evaluates after each epoch
# (`model.eval()` + `torch.no_grad()`, no backward). `run_training` prints the config first; fast mode
# caps it at 1 epoch on a subset.
#
# The default MNIST recipe: 7,966 parameters, the whole data set in memory as one tensor, SGD with momentum,
# a OneCycle learning rate, bf16 autocast, 8 epochs (`make bench` measures it against the classic PyTorch
# example).
#
# > **OneCycle.** A learning-rate schedule: the rate climbs from lr/25 to lr over the first quarter of the
# > run, then falls to lr/500; the recipe holds that small rate for its last epoch, so the last epochs show a
# > settled model. [Week 6](week06_modular_training.ipynb) shows the config that sets it.
#
# > **bf16 and AMX.** bf16 ("bfloat16") stores a number in 16 bits: float32's range with fewer digits.
# > Autocast runs convolutions and matrix products in bf16 and keeps the loss in float32. AMX is a matrix
# > unit in recent *Intel* Xeon CPUs that computes bf16 products very fast; on CPUs without it (this one,
# > if the first line of this notebook does not say "with AMX"), bf16 may be slower or faster. Measured here:

# %%
xb, yb = torch.randn(128, *spec.input_shape), torch.randint(0, 10, (128,))
nets = {bf16: models.build_model("mnist", "gap_fc").to(device) for bf16 in (False, True)}
opts = {bf16: torch.optim.SGD(net.parameters(), lr=0.01) for bf16, net in nets.items()}


def one_step(bf16: bool):
    """One training step of the recipe's model on a random 128-image batch, float32 or bf16 autocast."""
    return lambda: training.train_step(nets[bf16], (xb, yb), nn.CrossEntropyLoss(), opts[bf16], device, bf16=bf16)


# interleaved repeats of at least a second each (a shared machine's load hits both); the median counts
float32, bf16 = repeated_timing.measure({"float32": one_step(False), "bf16": one_step(True)},
                                        work_per_call=128, repeats=3 if FAST else 5)
amx = "with AMX" if "with AMX" in training.cpu_name() else "without AMX"
print(f"float32: {float32.describe()}\nbf16:    {bf16.describe()}")
print(repeated_timing.compare_speed(bf16, float32) + f" (this CPU: {training.cpu_name()}, {amx})")

# %%
config = training.default_config("mnist")
trained, history = training.run_training(config)
print(history.table())
print(f"training time {sum(history.seconds):.1f} s | {training.environment_line()}")
assert history.test_acc[-1] > (0.1 if FAST else 0.99)
viz.training_curves({"mnist gap_fc": history}, "MNIST with the default recipe")

# %% [markdown]
# The same measurement as in section 5, on the trained model: per-image gradient norms of one training
# batch (train mode, as a training step sees it) against the per-image losses.

# %%
Xb, yb = next(iter(train_loader))
Xb, yb = Xb.to(device), yb.to(device)
norms_trained = per_sample.per_sample_grad_norms(copy.deepcopy(trained).train(), Xb, yb).cpu()
with torch.no_grad():
    losses_trained = nn.functional.cross_entropy(copy.deepcopy(trained).train()(Xb), yb, reduction="none").cpu()
rho_trained = per_sample.rank_correlation(losses_trained, norms_trained)
print(f"trained model: Spearman (loss, gradient norm) = {rho_trained:.2f} (untrained, section 5: {rho:.2f}); "
      f"{per_sample.top_k_overlap(norms_trained, losses_trained, 8)} of the 8 largest gradient norms are among "
      "the 8 largest losses")
per_sample_viz.loss_vs_gradient_figure(losses_trained, norms_trained, 8,
                                   title=f"trained model, one batch: Spearman {rho_trained:.2f}")

# %% [markdown]
# ### Exercise 7 - Break it: evaluate in train mode
#
# `training.evaluate` calls `model.eval()`. What if it did not (BatchNorm left in train mode, still under
# `torch.no_grad()`)? `mistakes.evaluated_in_train_mode` scores the first 8 test images alone and inside the
# first 1,024, on a copy of the trained model. Predict:
#
# - (a) nothing changes: the same scores as in eval mode
# - (b) an image's scores depend on which images share its batch, and "evaluating" moves BatchNorm's
#   running statistics: the model changes without any optimizer step
# - (c) an error: gradients are needed in train mode
# - (d) every prediction becomes class 0

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
X_test, _ = next(iter(test_loader))
run = mistakes.evaluated_in_train_mode(trained, X_test.to(device), small=8)
print(f"train mode: the same 8 images' logits change by up to {run.max_logit_change:.3f} with their batch; "
      f"running means moved by up to {run.running_mean_change:.3f}")
print(f"eval mode: they change by {run.eval_mode_change:.1e}")

# %%
exercises.check("week03/eval-train-mode", my_prediction)

# %% [markdown]
# ### The test images with the largest loss
#
# What these images are depends on how well the model is trained - in fast mode it has seen 4,096 images
# once, in full mode 60,000 images 8 times - so the cell prints which case this run is.

# %%
logits, labels = training.predict(trained, test_loader, device, bf16=config.bf16)  # eval mode, no gradients
per_image = nn.functional.cross_entropy(logits, labels, reduction="none")  # (N,) one loss per test image
worst = per_image.argsort(descending=True)[:8]
second = logits[worst].topk(2, dim=1).indices[:, 1]  # the model's second choice for each
accuracy = (logits.argmax(1) == labels).float().mean().item()
print(f"test accuracy {accuracy:.2%}; mean test loss {per_image.mean():.3f}; the worst 8: "
      f"{per_image[worst].numpy().round(2)}")
print(f"the true class is the model's second choice for {(second == labels[worst]).sum().item()} of these 8")
if accuracy < 0.9:
    print("A barely trained model (fast mode): its worst images are simply digits it has not learned yet; "
          "run in full mode to see the images a trained model finds hardest.")
else:
    print(f"A trained model gets {accuracy:.2%} right: judge for yourself which of these a person would read "
          "as the labelled digit.")
viz.image_grid(test_loader.images[worst], labels[worst], [f"true {c}" for c in spec.classes],
               notes=[f"pred {int(logits[i].argmax())}\nloss {per_image[i]:.1f}" for i in worst],
               title="the 8 test images with the largest loss")

# %% [markdown] tags=["summary"]
# ## Summary
#
# The life cycle of one batch (`course_lib.training.train_step`):
#
# 1. `X, y = X.to(device), y.to(device)` - data and weights must be on the same device.
# 2. forward: `y_out = f(X, W)`, shape `(N, K)`: one row of class scores (logits) per image. Autograd
#    records the computation graph from X and W to the loss node.
# 3. error: $\operatorname{softmax}(y_{out}) - \operatorname{onehot}(y_{actual})$, one row per image, each row
#    sums to 0: the gradient of each image's cross-entropy with respect to its logits
#    ($\ell = -z_y + \log\sum_j e^{z_j}$, so $\partial\ell/\partial z_k = p_k - [k=y]$; checked by finite
#    differences). `y_out - y` is the gradient of a squared error $\frac12\lVert y_{out} - y\rVert^2$ instead.
# 4. loss: $E = \frac1N \sum_i \ell_i$ with $\ell_i = -\log p_{i,y_i}$ - one number (0-d tensor), the loss node.
# 5. `optimizer.zero_grad()` then `loss.backward()`: $\partial E/\partial W$ for every weight, same shapes as $W$;
#    $\partial E/\partial y_{out} = \text{error}/N$. Without `zero_grad`, `.grad` accumulates the sum of all steps.
# 6. `optimizer.step()`: $W \leftarrow W - \eta\,\partial E/\partial W$ (plain SGD; momentum steps along a running
#    sum of gradients).
# 7. `y_out.argmax(dim=1)`: the predicted class index of each image.
#
# Image $i$ pushes the weights by $\partial\ell_i/\partial W / N$; rank "the images that hurt most" by
# $\lVert\partial\ell_i/\partial W\rVert$. How well the loss $\ell_i$ ranks them depends on the model: measure
# the rank correlation (here: about -0.1 to -0.2 untrained, 1.00 after the full 8-epoch training).
# Evaluation = steps 1, 2, 4, 7 only, in `model.eval()` (BatchNorm's running statistics) under `torch.no_grad()`.

# %% tags=["summary"]
import torch
from torch import nn

from course_lib import data, models, training
from course_lib.training import per_sample

torch.manual_seed(0)
X, y = next(iter(data.get_loaders("mnist", batch_size=64, fast=True)[0]))
model = models.build_model("mnist", "gap_fc")
cycle = training.record_life_cycle(model, (X, y), lr=0.1, device=training.get_device())
for i, rec in enumerate(cycle.steps, start=1):
    print(f"{i}. {rec.name:10s} {rec.formula}")
print(f"loss on the batch: {cycle.loss_before:.4f} before one step, {cycle.loss_after:.4f} after")
y_out = cycle.steps[1].tensors["y_out"].requires_grad_(True)
nn.functional.cross_entropy(y_out, y).backward()
error = y_out.detach().softmax(1) - nn.functional.one_hot(y, 10)
print("dE/dy_out == (softmax - onehot) / N:", torch.allclose(y_out.grad, error / len(y), atol=1e-6))
norms = per_sample.per_sample_grad_norms(model.train(), X, y)
print(f"Spearman(loss, ||dl_i/dW||) on this batch: {per_sample.rank_correlation(cycle.per_sample_loss, norms):.2f}")

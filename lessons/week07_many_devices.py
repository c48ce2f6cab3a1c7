# %% [markdown]
# # Week 7 - Many devices: data-parallel training with `torch.distributed`
#
# **Goals.** One batch goes to a device. The next batch can go to another device. As many devices as one
# wants: that is **data parallelism**. Every device (here: every process) holds a full copy of the model, a
# **replica**. This lesson first runs that picture literally and watches what goes wrong, then fixes it the
# way real data-parallel training does: before each update the replicas **average their gradients**, so they
# all take the same step and stay identical.
#
# 1. one batch on one device: the gradient is a mean over the batch;
# 2. splitting that batch across N "devices" and averaging gives the same gradient;
# 3. round-robin batches over N processes started by `torchrun`: alone the replicas drift apart; with the
#    gradients averaged by hand (`dist.all_reduce`) they stay identical and equal one process on all the
#    batches; `DistributedDataParallel` (DDP) does the same for you; a timeline of who computes what when;
# 4. DDP's gradients rank by rank, and why BatchNorm breaks the equality (measured);
# 5. the few lines that turn `fit()` into DDP training, and a real run with a checkpoint;
# 6. throughput: 1 process x 2 threads vs 2 processes x 1 thread, repeated, with its spread.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Two halves of a 64-image batch, averaged, vs the whole batch (section 2): max difference 7.5e-09 (float32
#   rounding).
# - Round-robin replicas (section 3; the same in both modes): alone 2.5e-02 apart after step 1 and 5.3e-02
#   after step 8; with the all-reduce by hand and with DDP exactly 0 at every step; the all-reduce by hand vs
#   one process on both batches at once 1.5e-08; DDP vs the all-reduce by hand 0.0.
# - DDP's gradients vs 1 process with all 64 images (section 4; the same in both modes), as the length (L2
#   norm) of the difference over the length of the gradient: no normalization 1.1e-07, GroupNorm 3.0e-06,
#   BatchNorm 0.25 (0.154 vs 0.625); all ranks bit-identical.
# - DDP training on MNIST, 2 processes x 16 images, 1 epoch on the 4,096-image subset: test accuracy 90.72 % on
#   1,024 test images (the same in every run here).
# - Throughput (32 steps x 3 repeats of 2.2-3.6 s): medians 2,335 (2 processes), 2,359 (1 process x 1
#   thread) and 2,937 (1 process x 2 threads) images/s, ranges overlapping: "no clear difference". On this
#   shared machine the reading can change from run to run; the lesson words each run's own numbers.
# - The whole notebook: 93 s (load average 4 from other jobs).
#
# **Expected results - full mode:**
# - Sections 1-4: the same numbers as in fast mode (they do not depend on the mode).
# - DDP training on MNIST, 2 processes x 64 images (global batch 128), 2 epochs on 60,000 images: test accuracy
#   97.81 %, 99.02 % after epochs 1-2 on 10,000 test images (with only 2 epochs the recipe's 2 un-augmented
#   epochs are all of them), 99.02 % again when reloaded in the notebook.
# - Throughput (32 steps x 5 repeats of 2.1-5.2 s): medians 1,997 (1 process x 1 thread), 2,248 (x 2 threads)
#   and 2,589 (2 processes) images/s, ranges overlapping: "no clear difference" in that run.
# - The whole notebook: 182 s (load average 6-7 from other jobs).
#
# Measured on: torch 2.14.1+cu130, AMD EPYC (avx512_bf16, no AMX), 2 CPU threads (torchrun: 1 per process),
# no GPU, Python 3.11, 2026-11-30, on a machine shared with other jobs (load averages above).

# %%
import inspect
import json
import sys  # noqa: F401 (used by the !{sys.executable} shell lines below)
import tempfile
from pathlib import Path

import torch

from course_lib import data, exercises
from course_lib.config import TrainConfig
from course_lib.exercises import week07
from course_lib.explore import timeline_viz, viz
from course_lib.models import build_model
from course_lib.repeated_timing import Timing, compare_speed
from course_lib.training import (
    History,
    distributed,
    distributed_checks,
    distributed_roundrobin,
    environment_line,
    evaluate,
    fit,
    load_checkpoint,
)

FAST = data.is_fast_mode()
WORK = Path(tempfile.mkdtemp(prefix="week07_"))  # this lesson's files: gradients, checkpoint, timings
print(environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| files in", WORK)

# %% [markdown]
# ## 1. One batch on one device
#
# The life cycle of one batch (`course_lib.training.train_step`): `to(device)` -> forward -> loss -> zero_grad ->
# backward -> step. The loss is the **mean** over the B images of the batch, so its gradient is the mean of
# the B per-image gradients:
#
# $$g = \frac{1}{B}\sum_{i=1}^{B} \nabla_W\, \ell(x_i, y_i; W)$$
#
# We take 64 training images and the course's MNIST model with its BatchNorm layers removed
# (`with_norm(model, "none")`; section 3 shows why).

# %%
config = TrainConfig(dataset="mnist", batch_size=32, lr=0.1, seed=0)  # 32 images per device
X, y, idx = distributed_checks.fixed_batch(config, 2 * config.batch_size)  # 64 images chosen by the seed


def fresh_model(norm: str = "none"):
    torch.manual_seed(config.seed)  # the same initial weights W every time
    return distributed_checks.with_norm(build_model("mnist"), norm)


g_whole = distributed_checks.gradient(fresh_model(), X, y)  # one device, all 64 images
print(f"X {tuple(X.shape)}, y {tuple(y.shape)}; gradient of {g_whole.numel():,} weights, "
      f"largest |component| {g_whole.abs().max():.3e}")

# %% [markdown]
# ## 2. Splitting the batch across N devices
#
# Give images 0, 2, 4, ... to "device 0" and 1, 3, 5, ... to "device 1" - the rule of `DistributedSampler`:
# rank r takes positions r, r+N, r+2N, ... Each device computes the mean over its own 32 images. Both halves
# have the same size, so the mean of the two means is the mean over all 64:
#
# $$\frac{1}{2}\Big(\frac{1}{32}\sum_{i \in \text{half}_0} \nabla\ell_i + \frac{1}{32}\sum_{i \in \text{half}_1} \nabla\ell_i\Big) = \frac{1}{64}\sum_{i=1}^{64} \nabla\ell_i$$
#
# Here both "devices" are this one CPU, one after the other: the arithmetic is the point. (With unequal
# halves a plain average would weight images wrongly: that is why `DistributedSampler` pads the data so
# every rank gets the same number of images.)

# %%
N = 2
g_parts = [distributed_checks.gradient(fresh_model(), X[r::N], y[r::N])  # (64,1,28,28) -> (32,1,28,28) each
           for r in range(N)]
g_avg = torch.stack(g_parts).mean(0)  # this mean is what the all-reduce computes
print(f"each half alone differs from the whole batch by up to "
      f"{max((g - g_whole).abs().max().item() for g in g_parts):.3e}")
print(f"the average of the halves differs by {(g_avg - g_whole).abs().max():.3e} (float32 rounding)")
assert torch.allclose(g_avg, g_whole, atol=1e-6)

# %% [markdown]
# ## 3. One batch to one device, the next batch to another
#
# Now the picture itself, with real processes: a stream of batches, batch 0 to device 0, batch 1 to device 1,
# batch 2 to device 0 again, ... (**round-robin**: batch i goes to rank i mod N). Each device is driven by its
# own **process**:
#
# - **`torchrun`** (`python -m torch.distributed.run`) starts the N processes and gives each its **rank**
#   (0...N-1), the **world size** N and the address where they all meet (the **rendezvous**);
# - each process calls `init_process_group(backend)`: **gloo** sends tensors over TCP between CPU processes,
#   **nccl** sends them directly between GPUs.
#
# Why a `!` command, and not `torch.multiprocessing.spawn` or `nn.DataParallel` inside the notebook? Worker
# processes must import the function they run, and a function defined in a notebook cannot be imported
# (spawn fails; fork can hang on threads or a live CUDA context). DataParallel is one process with threads,
# slower and discouraged by PyTorch itself. So the code lives in `course_lib` and a cell launches it exactly
# as a terminal would; `{sys.executable}` makes it the kernel's Python (the course's venv), and `--standalone`
# picks a free port on this machine. torchrun's banner about `OMP_NUM_THREADS` says it gave each process 1
# thread, so that N processes do not fight over the cores.
#
# The `roundrobin` command (`course_lib/training/distributed_roundrobin.py`) runs 8 steps three times, each time from the
# same initial weights (the MNIST model without BatchNorm), with plain SGD:
#
# 1. **alone**: each process updates its own replica with its own batches, and never talks to the other;
# 2. **all-reduce by hand**: after `backward`, for every parameter, `dist.all_reduce(p.grad)` (every process
#    ends up holding the sum over all processes), then `p.grad /= N`, then the step;
# 3. **DDP**: the model wrapped in `DistributedDataParallel`, which runs that all-reduce inside `backward`.
#
# After every step the processes' weights are gathered (only to display them) to measure how far apart the
# replicas are, and every process writes down when it ran forward, backward, all-reduce and step.
#
# ### Exercise 1 (Predict): replicas that average their gradients
# In phase 2 both replicas start from the same weights and, at every step, replace their gradient by the
# average of the two. After 8 steps, how far apart are their weights?
#
# - `"a"` exactly 0: the replicas stay bit-identical
# - `"b"` tiny but not 0 (about 1e-8): float32 rounding accumulates
# - `"c"` growing, as far apart as replicas that never communicate

# %%
my_prediction = ...  # "a", "b" or "c"

# %%
exercises.check("week07/allreduce-distance", my_prediction)

# %%
ROUNDROBIN = WORK / "roundrobin.pt"
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel roundrobin --dataset mnist --batch-size 32 --steps 8 --lr 0.1 --out {ROUNDROBIN} --timeout 60

# %%
rr = distributed_roundrobin.summary(ROUNDROBIN)  # also redoes the training in this process, on both batches at once
steps = rr["record"]["steps"]
print(f"{rr['record']['world_size']} processes x {rr['record']['batch_per_rank']} images, {steps} steps; "
      "largest distance ||W_rank - W_rank0|| (L2) after each step:")
for phase in distributed_roundrobin.PHASES:
    print(f"  {phase:9s}", " ".join(f"{d:.2e}" for d in rr[f"drift_{phase}"]))
print(f"all-reduce by hand vs one process on the {rr['record']['world_size']} batches concatenated, "
      f"largest |difference| of any weight over the {steps} steps: {rr['allreduce_vs_single']:.1e} "
      f"(the training moved the weights by up to {rr['moved']:.1e})")
print(f"DDP vs all-reduce by hand, final weights: largest |difference| {rr['ddp_vs_allreduce']:.1e}")
print(f"replica 0 trained alone vs one process on all batches: {rr['alone_vs_single']:.1e}")
print(f"alone, the replicas were {rr['drift_alone'][0]:.1e} apart after step 1 and {rr['drift_alone'][-1]:.1e} "
      f"after step {steps} ({rr['drift_alone'][-1] / rr['drift_alone'][0]:.1f} times as far)")
assert min(rr["drift_alone"]) > 0  # alone, the replicas drift apart from the first step on
assert max(rr["drift_allreduce"]) == 0 and max(rr["drift_ddp"]) == 0  # with the all-reduce: bit-identical
assert rr["allreduce_vs_single"] < 1e-5  # = one process with all N*B images, to float32 rounding
phases = rr["record"]["phases"]
assert torch.allclose(phases["ddp"]["final"], phases["allreduce"]["final"], rtol=1e-5, atol=1e-6)  # DDP == by hand
timeline_viz.drift_figure({p: rr[f"drift_{p}"] for p in distributed_roundrobin.PHASES},
                          "2 replicas, round-robin batches: distance between their weights")

# %% [markdown]
# Reading it: **alone**, each replica follows the gradient of its own batches, so after the first step the two
# models already differ (the `alone` row): N processes that never talk train N different models, each on 1/N
# of the data. **With the all-reduce** every replica applies the same averaged
# gradient to the same weights: the distance is exactly 0 at every step, and the weights equal those of one
# process taking each step on all N batches at once (the mean of N means of B images is the mean of the N*B
# images, section 2). **DDP** gives the same weights as the all-reduce by hand (the printed difference).
#
# Who computes what when? Every process recorded its own timestamps (milliseconds from a barrier at the start of
# each phase):

# %%
timeline_viz.timeline_figure(rr["record"]["timeline"], title="what each process does, step by step")

# %% [markdown]
# Alone, the two processes run side by side and never wait for each other (the gaps between steps are the
# gathering of the weights for the distance plot above). With the all-reduce, each step has a synchronization
# point: a process that finishes its backward early waits inside `all_reduce` until the other has its
# gradient too, so the **slowest process sets the pace**. DDP hides part of that wait: it starts the
# all-reduce of a bucket of gradients while `backward` is still computing the others (for this small model,
# one bucket, so the all-reduce sits at the end of `backward`).
#
# ### Exercise 2 (Fill in): the all-reduce by hand, in one process
# Write `average_gradients(replicas)`: the replicas have each run `backward` on their own batch; give every
# replica the mean of all replicas' gradients, parameter by parameter (what `dist.all_reduce` + `/ N` does
# across processes). The check runs 2 and 3 replicas in this one process through 4 round-robin steps with your
# function between `backward` and the step, and compares them with each other and with one model trained on
# all their batches.

# %%
def average_gradients(replicas):
    raise NotImplementedError  # for each parameter: every replica's .grad <- the mean over the replicas


# %%
exercises.check("week07/average-gradients", average_gradients)

# %% [markdown]
# ## 4. Inside DDP: the gradients rank by rank
#
# DDP wraps the model; during `backward`, as soon as a bucket of gradients is ready, it starts an
# **all-reduce**: the processes pass pieces around a ring until each holds the sum, then divide by N. Each
# process sends about 2(N-1)/N times the gradient's size per step, and the communication overlaps with the
# rest of the backward pass.
#
# The `grads` command runs one SGD step on the same 64 images as sections 1-2 (rank r takes images r, r+2,
# ...). It saves each rank's own gradient (before any communication), the gradient DDP leaves after the
# all-reduce, and the weights after the step - for three versions of the model: no normalization, BatchNorm
# (the course model as it is), and GroupNorm(1, C) (statistics of each image alone).

# %%
GRADS = WORK / "grads.pt"
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel grads --dataset mnist --batch-size 32 --lr 0.1 --out {GRADS} --timeout 60

# %%
rows = distributed_checks.compare(GRADS)  # redoes each step in this one process on all 64 images
print(distributed_checks.compare_table(rows))
record = load_checkpoint(GRADS)
assert torch.equal(record["indices"], idx)  # the very images of sections 1 and 2
print(f"\nrank 0's all-reduced gradient vs section 1's whole-batch gradient: "
      f"{(record['norms']['none']['ddp'][0] - g_whole).abs().max():.3e}")
by_norm = {row["norm"]: row for row in rows}
for norm in ("none", "groupnorm"):
    assert by_norm[norm]["ranks_identical"] and by_norm[norm]["grad_vs_single"] < 1e-5
    assert by_norm[norm]["weights_vs_single"] < 1e-5
assert by_norm["batchnorm"]["ranks_identical"] and by_norm["batchnorm"]["grad_vs_single"] > 1e-4

# %% [markdown]
# Reading the table, row by row: the two ranks' own gradients differ a lot (they saw different images);
# after the all-reduce both hold exactly their mean (`DDP grad - mean(own)` is 0) and are bit-identical;
# without normalization or with GroupNorm that mean is the one-process gradient up to float32 rounding, and
# so are the weights after the step. The BatchNorm row is different. How different? Its size, measured as
# the length (L2 norm) of the difference vector against the length of the gradient itself:

# %%
sizes = {}
for norm in record["norms"]:
    g_ddp = record["norms"][norm]["ddp"][0]  # rank 0's gradient after the all-reduce
    g_one, _ = distributed_checks.single_process_step(record, norm)  # one process, all 64 images
    sizes[norm] = {"diff": (g_ddp - g_one).norm().item(), "grad": g_one.norm().item()}
    sizes[norm]["ratio"] = sizes[norm]["diff"] / sizes[norm]["grad"]
    print(f"{norm:10s} ||DDP gradient - 1-process gradient|| = {sizes[norm]['diff']:.2e}   "
          f"||1-process gradient|| = {sizes[norm]['grad']:.2e}   ratio {sizes[norm]['ratio']:.1e}")
bn = sizes["batchnorm"]
print(f"\nWith BatchNorm the DDP gradient differs from the one-process gradient by {bn['ratio']:.0%} of the "
      f"gradient's length; without normalization by {sizes['none']['ratio']:.0e} of it (float32 rounding).")
assert bn["ratio"] > 1e3 * sizes["none"]["ratio"]
viz.bar_chart({"||DDP gradient - 1-process gradient||": {n: s["diff"] for n, s in sizes.items()},
               "||1-process gradient|| (for scale)": {n: s["grad"] for n, s in sizes.items()}},
              "2 processes x 32 images vs 1 process x 64 images", "L2 norm (log scale)", logy=True, fmt="{:.1e}")

# %% [markdown]
# ### Why BatchNorm breaks the equality
#
# In training mode BatchNorm normalizes each channel with the mean and variance **of the batch it sees**.
# One process sees 64 images; each of two processes sees its own 32. Every image is normalized with slightly
# different statistics -> different activations, a different loss, a different gradient: by the fraction of
# the gradient's length printed above. The all-reduce still averages the gradients, so the ranks stay
# identical to each other, but they follow a different trajectory than one process with the whole batch.
#
# - The running statistics (`running_mean`, `running_var`, used in eval mode) are updated by each process
#   from its own batch; DDP copies rank 0's buffers to the others at every forward (`broadcast_buffers=True`),
#   and rank 0's are the ones saved.
# - **SyncBatchNorm** (`nn.SyncBatchNorm.convert_sync_batchnorm(model)`) all-reduces the batch statistics in
#   the forward pass, so the N processes normalize with the statistics of all N*B images and the equality
#   returns, for one more communication per BatchNorm layer. In torch 2.14 it runs on GPUs only (with 2 gloo
#   CPU processes it raises "SyncBatchNorm expected input tensor to be on GPU or XPU ...").
# - Normalizations that use each image's own statistics (GroupNorm, LayerNorm) do not care how the batch is
#   split: the `groupnorm` row agrees to rounding.

# %% [markdown]
# ## 5. Distributed training: the diff from `fit()`
#
# `fit()` is the one training loop, for one process and for N (like nanoGPT's single `train.py`). Where the
# two differ it asks the processes it runs in: on one process `SingleProcess` answers (the sum of one value is
# the value, the model trains as it is); under torchrun `course_lib.training.distributed.Context` answers, and
# its methods are the whole diff (the pytorch/examples DDP tutorial's recipe). The code lives in
# `course_lib/training/distributed.py`, run by `-m course_lib.parallel`. The cell prints them from the
# library source, so what you read is what runs:
#
# 1. `setup`: `init_process_group` with a timeout: a process that never arrives is an error, not a hang;
# 2. the device: `cuda:LOCAL_RANK` (one GPU per process) or the CPU;
# 3. `shard`: each rank's shard of each epoch (`DistributedSampler`, or `ShardedLoader` for in-memory
#    tensors); fit's `set_epoch(...)` reshuffles every epoch, identically on all ranks;
# 4. `wrap`: `DDP(model)`, the gradient all-reduce;
# 5. `sum`: the epoch's sums all-reduced; rank 0 alone evaluates, prints and writes the checkpoint (atomically).

# %%
source = "".join(inspect.getsource(f) for f in (distributed.setup, distributed.Context, fit))
markers = ("init_process_group(", '"cuda", local_rank', "ShardedLoader(loader", "DistributedSampler(dataset",
           "set_epoch(train_loader", "return DDP(", "dist.all_reduce(totals)", "if world.is_main:",
           "save_checkpoint(ckpt")
for line in source.splitlines():
    if any(m in line for m in markers):
        print(line.strip())

# %% [markdown]
# A real run on MNIST: two processes x 64 images per step = a global batch of 128, 2 epochs, OneCycle up to
# lr 0.1 (the other settings come from the MNIST recipe). `--batch-size` is **per process**: N processes
# make the global batch N*B, so an epoch has N times fewer steps than one process with batch B (a common rule
# of thumb scales the learning rate with the global batch, with a warm-up: Goyal et al. 2017). Fast mode
# trains 1 epoch on a 4,096-image subset, with 16 images per process so that it still makes 128 steps. The
# recipe trains its last 2 epochs on un-augmented images, which here are all of them: `--augment false` says
# so in the printed config.
#
# ### Exercise 3 (Predict): the global batch
# `torchrun --nproc_per_node=4 ... --batch-size 32`: how many images go into one optimizer step, over all
# processes together?

# %%
my_answer = ...  # a number

# %%
exercises.check("week07/global-batch", my_answer)

# %% [markdown]
# ### Exercise 4 (Predict): steps per epoch
# 60,000 training images, 3 processes, `--batch-size 64`. How many optimizer steps does each rank take in
# one epoch? (PyTorch's `DistributedSampler` + `DataLoader` compute it when you check.)

# %%
my_answer = ...  # a number

# %%
exercises.check("week07/steps-per-epoch", my_answer)

# %%
CKPT = WORK / "mnist_ddp.pt"
BATCH = 16 if FAST else 64  # per process
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist --epochs 2 --batch-size {BATCH} --lr 0.1 --augment false --checkpoint {CKPT} --timeout 120

# %%
state = load_checkpoint(CKPT)
history = History.from_dict(state["history"])
print("epoch  train loss  train acc  test loss  test acc")  # times: section 6 measures them with repeats
for i in range(len(history)):
    print(f"{history.epoch[i]:5d}  {history.train_loss[i]:10.4f}  {history.train_acc[i]:9.2%}  "
          f"{history.test_loss[i]:9.4f}  {history.test_acc[i]:8.2%}")
model = build_model("mnist")
model.load_state_dict(state["model"])  # rank 0 saved the plain module: no "module." prefix, loads anywhere
run = TrainConfig(**state["config"])  # the run's settings travel with the checkpoint
_, test_loader = data.get_loaders("mnist")
result = evaluate(model, test_loader, torch.device("cpu"), bf16=run.bf16, channels_last=run.channels_last)
print(f"reloaded in this single process: test accuracy {result.accuracy:.2%} on {result.count} images "
      f"(rank 0 reported {history.test_acc[-1]:.2%})")
assert abs(result.accuracy - history.test_acc[-1]) <= 0.002  # other thread count: bf16 rounding may flip an image or two
assert result.accuracy > (0.8 if FAST else 0.975)
viz.training_curves({"2 processes (DDP)": history}, "MNIST, 2 gloo processes on the CPU")

# %% [markdown]
# ### Exercise 5 (Fill in): which images does rank r get?
# Write DistributedSampler's rule without shuffling: `shard(n, rank, world_size)` returns the list of indices
# (out of `range(n)`) that rank `rank` trains on in one epoch. The check compares it with PyTorch's
# `DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False)` for several settings.

# %%
def shard(n, rank, world_size):
    ...  # the list of indices rank `rank` gets


# %%
exercises.check("week07/shard-rule", shard)

# %% [markdown]
# ### Exercise 6 (Break it): forget `set_epoch`
# `fit()` calls `set_epoch(epoch)` on the sampler at the start of every epoch. Forget it, and run 3 epochs
# of `DistributedSampler(range(12), num_replicas=2, rank=r, shuffle=True)` on both ranks. What happens?
#
# - `"a"` a new order every epoch, as with set_epoch
# - `"b"` the same order every epoch
# - `"c"` the two ranks get overlapping images
# - `"d"` an error
#
# Predict, then run the broken loop (next cells).

# %%
my_prediction = ...  # "a", "b", "c" or "d"

# %%
broken = week07.epochs_without_set_epoch(n=12, world_size=2, epochs=3)  # no sampler.set_epoch(epoch) inside
for rank, orders in broken["orders"].items():
    print(f"rank {rank}: " + " | ".join(f"epoch {e}: {order}" for e, order in enumerate(orders)))

# %%
exercises.check("week07/forget-set-epoch", my_prediction)

# %% [markdown]
# ### When something goes wrong
#
# - **Started without torchrun**: the environment variables are missing and the error says how to launch
#   (next cell).
# - **A process never arrives** (a node down, a wrong `--master_port`): after `--timeout` seconds (default
#   300, or `$COURSE_DDP_TIMEOUT`) each waiting process stops with "rendezvous failed: the 2 processes did
#   not all meet ... 1/2 clients joined".
# - **A process dies during training**: torchrun notices, stops the others and names the failed rank; the
#   others report "lost the other processes". Rank 0's last checkpoint is intact (written to a temporary
#   file, then renamed), and the same command resumes from it. Try it in a terminal with
#   `COURSE_DDP_CRASH_RANK=1 COURSE_DDP_CRASH_EPOCH=2` and `--epochs 3` (then run it again without them:
#   it resumes at epoch 2); `tests/test_parallel.py` checks that the resumed run ends with bit-identical
#   weights.
# - **More processes than training images**: refused before training, saying what to change.

# %%
try:
    distributed.setup()  # in this kernel: no RANK, WORLD_SIZE, ... are set
except distributed.DistributedError as exc:
    print(f"DistributedError: {exc}")

# %% [markdown]
# ## 6. Throughput: 1 process x 2 threads vs 2 processes x 1 thread
#
# This machine has 2 cores. One process can use both through threads *inside* each operation (one
# convolution split across 2 threads), or two processes can each use one core on half of the batch and only
# meet once per step for the all-reduce (a few tens of kB of gradients for this small model). The `bench`
# command times all setups inside one torchrun launch, interleaved (rank 0 trains alone while rank 1 sleeps
# in a barrier, then both train under DDP), so they share the machine's noise.
#
# A timing you can trust is **repeated**: every setup runs 3 (fast mode) or 5 repeats of 32 training steps of
# 256 images, each repeat long enough (about a second or more) that a hiccup of the machine does not
# dominate it (the command's own table, medians only, goes to `bench.log`; the JSON has every repeat).
# We report the **median** and the **range** (slowest to fastest repeat), and the sentence
# that reads them comes from `course_lib.repeated_timing.compare_speed`: "faster" only when the ranges do not
# overlap, otherwise "no clear difference".

# %%
BENCH, BENCH_LOG = WORK / "bench.json", WORK / "bench.log"
BENCH_STEPS, BENCH_REPEATS = 32, (3 if FAST else 5)
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel bench --steps {BENCH_STEPS} --repeats {BENCH_REPEATS} --out {BENCH} --timeout 600 > {BENCH_LOG}
bench = json.loads(BENCH.read_text())
assert [r["processes"] for r in bench["rows"]] == [1, 1, 2]
timings = [Timing(r["setup"], tuple(r["seconds"]), bench["steps"] * bench["global_batch"]) for r in bench["rows"]]
print(bench["environment"])
for t in timings:
    print(f"{t.label:36s} {t.describe()}")
print()
one_thread = timings[0]
for t in timings[1:]:
    print("-", compare_speed(t, one_thread))
print("-", compare_speed(timings[2], timings[1]))
timeline_viz.timing_chart(timings, f"training throughput, global batch {bench['global_batch']}, "
                                   f"{bench['steps']} steps per repeat")

# %% [markdown]
# **Reading it.** The sentences above are the reading of this run; on a shared machine the next run can read
# differently, which is why the ranges are printed. What decides the outcome: inside one process, 2 threads
# split each operation (one convolution) in two halves that must both finish before the next operation
# starts; small operations like these split poorly, and if another program holds one of the cores, one
# thread waits for it while the other spins. Two processes each run whole operations on one core and meet
# only once per step, in the all-reduce, which costs little here because the model is tiny. The timeline of
# section 3 showed the price of meeting: the slower process sets the pace. `benchmarks/ddp_throughput.py`
# prints the same table with 30 steps x 3 repeats (`make bench`).
#
# **On GPUs** the same code and the same command scale out: one process per GPU,
# `torchrun --standalone --nproc_per_node=<number of GPUs> -m course_lib.parallel ...`; each process takes
# `cuda:LOCAL_RANK` and the backend becomes nccl, which moves gradients GPU-to-GPU over NVLink or PCIe while
# the backward pass goes on. The speed-up approaches N when a step's compute is large against its
# communication: the all-reduce moves about 2*P*4 bytes per GPU per step for P float32 parameters (tens of kB
# for this model, 200 MB for a 25M-parameter ResNet-50). `benchmarks/ddp_throughput.py` uses every GPU it
# finds and compares 1 GPU with N.
#
# **On several machines** only the launch changes (`python -m course_lib.parallel --help`):
#
#     torchrun --nnodes=2 --node_rank=K --nproc_per_node=4 --master_addr=HOST0 --master_port=29500 -m course_lib.parallel ...
#     torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 --rdzv_id=run42 -m course_lib.parallel ...
#
# If one machine never comes, plain `torchrun` waits 10 minutes or more (its own limits) before it gives up with a long
# traceback. `python -m course_lib.launch` takes the same flags in place of `torchrun` and gives up after
# `$COURSE_DDP_TIMEOUT` seconds (default 300) with one line saying how many processes met (README: "What
# happens when things go wrong").

# %% [markdown] tags=["summary"]
# ## Summary
#
# - Data parallelism: N processes, one full model copy (replica) each, each on its own B images per step.
#   Replicas that never communicate drift apart; averaging the gradients before every step
#   (`dist.all_reduce(p.grad)` then `/ N`, or DDP, which does it during `backward`) keeps them bit-identical.
# - With equal shards the average of the per-process mean gradients *is* the mean over all N*B images: N x B
#   in DDP = 1 x N*B on one device, to float32 rounding - except with BatchNorm, whose statistics are per
#   process (measured here as a fraction of the gradient's length; SyncBatchNorm on GPUs, or
#   GroupNorm/LayerNorm, restore the equality).
# - Launch with `torchrun` (from a notebook: `!{sys.executable} -m torch.distributed.run ...`), never
#   `mp.spawn` or DataParallel in a notebook; gloo on CPU, nccl on GPU (one process per GPU, `LOCAL_RANK`).
# - The diff from single-device training: process group with a timeout, sharded data with `set_epoch` (forget
#   it and every epoch repeats the same order), the DDP wrap, rank-0 logging, evaluation and atomic
#   checkpoints (resumable). Global batch = N x `--batch-size`; steps per epoch = ceil(ceil(n / N) / B).
# - A timing is the median of several repeats with its range; "faster" only when the ranges do not overlap.

# %% tags=["summary"]
import torch

from course_lib.training import distributed

# Each of 4 processes gets its own quarter of the 10 images of an epoch (padded to equal shards):
for rank in range(4):
    print(f"rank {rank}: images {distributed.shard_indices(10, rank, 4, shuffle=False).tolist()}")

# The average of per-process mean gradients is the mean gradient of the whole batch:
per_sample_grads = torch.randn(8, 5)                      # 8 images, 5 weights
shards = per_sample_grads.chunk(2)                        # 2 processes x 4 images
all_reduced = torch.stack([g.mean(0) for g in shards]).mean(0)
assert torch.allclose(all_reduced, per_sample_grads.mean(0))
print("all-reduce(mean) of 2 x 4 images == mean over 8 images")

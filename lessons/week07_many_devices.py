# %% [markdown]
# # Week 7 - Many devices: data-parallel training with `torch.distributed`
#
# **Goals.** One batch goes to a device. Another batch can go to another device. As many devices as one
# wants: that is **data parallelism**. Every device (here: every process) holds a full copy of the model
# and trains on its own slice of each batch; before each update the copies **average their gradients**,
# so they all take the same step and stay identical.
#
# 1. one batch on one device: the gradient is a mean over the batch;
# 2. splitting that batch across N "devices" and averaging gives the same gradient;
# 3. the real thing: N processes started by `torchrun`, DDP's all-reduce - the same gradient and the same
#    weights as one process with the whole batch, *unless the model has BatchNorm*;
# 4. the few lines that turn `fit()` into DDP training, and a real run with a checkpoint;
# 5. throughput: 1 process x 2 threads vs 2 processes x 1 thread, and how it extends to GPUs (nccl) and
#    to several machines.
#
# **Expected results - fast mode (`COURSE_FAST=1`):**
# - Two halves of a 64-image batch, averaged, vs the whole batch (section 2): max difference ~1e-8 (float32 rounding).
# - 2 processes (torchrun, gloo) vs 1 process with all 64 images (section 3): without normalization or with
#   GroupNorm the gradients agree to ~1e-8...1e-6 and the weights after one step to ~1e-8, both ranks
#   bit-identical; with BatchNorm the gradients differ by ~1e-2, as much as the gradient itself.
# - DDP training on MNIST, 2 processes x 16 images, 1 epoch on the 4,096-image subset: test accuracy
#   85-95 % on 1,024 test images, ~1-2 s of training (~5-10 s with the start of the processes).
# - Throughput (4 steps, one repeat): noisy; see section 5 for the measured ranges.
# - The whole notebook: ~25-35 s on the shared 2-core machine.
#
# **Expected results - full mode:**
# - Sections 1-3: the same numbers as in fast mode (they do not depend on the mode).
# - DDP training on MNIST, 2 processes x 64 images (global batch 128), 2 epochs on 60,000 images:
#   test accuracy 97.10 %, 99.08 % after epochs 1-2 (with only 2 epochs the recipe's 2 un-augmented
#   epochs are all of them; earlier recipe versions: 98.5-99.3 %), 21.2 s of training (17-32 s in
#   earlier runs, depending on the load), 29.7 s with the start of the processes.
# - The whole notebook: ~1-2.5 min (52-67 s measured with free cores, 137 s shared).
# - Throughput (30 steps x 3 repeats; fast mode 4 x 1): 2 processes x 1 thread 0.95-1.9x one thread,
#   1 process x 2 threads 0.13-1.8x, depending on what else runs on the machine (8 runs, one day;
#   `make bench` repeats it).
# - Measured on: a 2-core Intel Xeon with AMX (load average 0-4 from other jobs), no GPU, torch 2.14.1.

# %%
import inspect
import json
import sys  # noqa: F401 (used by the !{sys.executable} shell lines below)
import tempfile
import time
from pathlib import Path

import torch

from course_lib import data, parallel, parallel_checks, viz
from course_lib.checkpoint import load_checkpoint
from course_lib.config import TrainConfig
from course_lib.models import build_model
from course_lib.recipes import environment_line
from course_lib.train import History, evaluate

FAST = data.is_fast_mode()
WORK = Path(tempfile.mkdtemp(prefix="week07_"))  # this lesson's files: gradients, checkpoint, timings
print(environment_line(), "| COURSE_FAST=1" if FAST else "| full mode", "| files in", WORK)

# %% [markdown]
# ## 1. One batch on one device
#
# The life cycle of one batch (`course_lib.train.train_step`): `to(device)` -> forward -> loss -> zero_grad ->
# backward -> step. The loss is the **mean** over the B images of the batch, so its gradient is the mean of
# the B per-image gradients:
#
# $$g = \frac{1}{B}\sum_{i=1}^{B} \nabla_W\, \ell(x_i, y_i; W)$$
#
# We take 64 training images and the course's MNIST model with its BatchNorm layers removed
# (`with_norm(model, "none")`; section 3 shows why).

# %%
config = TrainConfig(dataset="mnist", batch_size=32, lr=0.1, seed=0)  # 32 images per device
X, y, idx = parallel_checks.fixed_batch(config, 2 * config.batch_size)  # 64 images chosen by the seed


def fresh_model(norm: str = "none"):
    torch.manual_seed(config.seed)  # the same initial weights W every time
    return parallel_checks.with_norm(build_model("mnist"), norm)


g_whole = parallel_checks.gradient(fresh_model(), X, y)  # one device, all 64 images
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
g_parts = [parallel_checks.gradient(fresh_model(), X[r::N], y[r::N])  # (64,1,28,28) -> (32,1,28,28) each
           for r in range(N)]
g_avg = torch.stack(g_parts).mean(0)  # this mean is what the all-reduce computes
print(f"each half alone differs from the whole batch by up to "
      f"{max((g - g_whole).abs().max().item() for g in g_parts):.3e}")
print(f"the average of the halves differs by {(g_avg - g_whole).abs().max():.3e} (float32 rounding)")
assert torch.allclose(g_avg, g_whole, atol=1e-6)

# %% [markdown]
# ## 3. The all-reduce, with real processes
#
# In real data parallelism each device is driven by its own **process**:
#
# - **`torchrun`** (`python -m torch.distributed.run`) starts the N processes and gives each its **rank**
#   (0...N-1), the **world size** N and the address where they all meet (the **rendezvous**);
# - each process calls `init_process_group(backend)`: **gloo** sends tensors over TCP between CPU processes,
#   **nccl** sends them directly between GPUs;
# - the model is wrapped in `DistributedDataParallel` (DDP). During `backward`, as soon as a bucket of
#   gradients is ready, DDP starts an **all-reduce**: the processes pass pieces around a ring until each
#   holds the sum, then divide by N. Each process sends about 2(N-1)/N times the gradient's size per step,
#   and the communication overlaps with the rest of the backward pass.
#
# Why a `!` command, and not `torch.multiprocessing.spawn` or `nn.DataParallel` inside the notebook? Worker
# processes must import the function they run, and a function defined in a notebook cannot be imported
# (spawn fails; fork can hang on threads or a live CUDA context). DataParallel is one process with threads,
# slower and discouraged by PyTorch itself. So the code lives in `course_lib/parallel.py` and a cell launches
# it exactly as a terminal would; `{sys.executable}` makes it the kernel's Python (the course's venv), and
# `--standalone` picks a free port on this machine. torchrun's banner about `OMP_NUM_THREADS` says it gave
# each process 1 thread, so that N processes do not fight over the cores.
#
# The `grads` command runs one SGD step on the same 64 images (rank r takes images r, r+2, ...). It saves each
# rank's own gradient (before any communication), the gradient DDP leaves after the all-reduce, and the
# weights after the step - for three versions of the model: no normalization, BatchNorm (the course model as
# it is), and GroupNorm(1, C) (statistics of each image alone).

# %%
GRADS = WORK / "grads.pt"
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel grads --dataset mnist --batch-size 32 --lr 0.1 --out {GRADS} --timeout 60

# %%
rows = parallel_checks.compare(GRADS)  # redoes each step in this one process on all 64 images
print(parallel_checks.compare_table(rows))
record = load_checkpoint(GRADS)
assert torch.equal(record["indices"], idx)  # the very images of sections 1 and 2
print(f"\nrank 0's all-reduced gradient vs section 1's whole-batch gradient: "
      f"{(record['norms']['none']['ddp'][0] - g_whole).abs().max():.3e}")
by_norm = {row["norm"]: row for row in rows}
for norm in ("none", "groupnorm"):
    assert by_norm[norm]["ranks_identical"] and by_norm[norm]["grad_vs_single"] < 1e-5
    assert by_norm[norm]["weights_vs_single"] < 1e-5
assert by_norm["batchnorm"]["ranks_identical"] and by_norm["batchnorm"]["grad_vs_single"] > 1e-4

# %%
viz.bar_chart({"max |DDP gradient - 1-process gradient|": {r["norm"]: r["grad_vs_single"] for r in rows},
               "max |1-process gradient| (for scale)": {r["norm"]: r["grad_scale"] for r in rows}},
              "2 processes x 32 images vs 1 process x 64 images", "absolute value (log scale)", logy=True,
              fmt="{:.1e}")

# %% [markdown]
# Reading the table, row by row: the two ranks' own gradients differ a lot (they saw different images);
# after the all-reduce both hold exactly their mean (`DDP grad - mean(own)` is 0) and are bit-identical;
# without normalization or with GroupNorm that mean is the one-process gradient up to float32 rounding, and
# so are the weights after the step.
#
# ### Why BatchNorm breaks the equality
#
# In training mode BatchNorm normalizes each channel with the mean and variance **of the batch it sees**.
# One process sees 64 images; each of two processes sees its own 32. Every image is normalized with slightly
# different statistics -> different activations, a different loss, a different gradient. The all-reduce
# still averages the gradients, so the ranks stay identical to each other, but they follow a different
# (usually just as good) trajectory than one process with the whole batch.
#
# - The running statistics (`running_mean`, `running_var`, used in eval mode) are updated by each process
#   from its own batch; DDP copies rank 0's buffers to the others at every forward (`broadcast_buffers=True`),
#   and rank 0's are the ones saved.
# - **SyncBatchNorm** (`nn.SyncBatchNorm.convert_sync_batchnorm(model)`) all-reduces the batch statistics in
#   the forward pass, so the N processes normalize with the statistics of all N*B images and the equality
#   returns, for one more communication per BatchNorm layer. In torch 2.14 it runs on GPUs only (on the CPU
#   it raises "SyncBatchNorm expected input tensor to be on GPU").
# - Normalizations that use each image's own statistics (GroupNorm, LayerNorm) do not care how the batch is
#   split: the `groupnorm` row agrees to rounding.

# %% [markdown]
# ## 4. Distributed training: the diff from `fit()`
#
# `course_lib.parallel.train_ddp` is `fit()` plus a handful of lines (the pytorch/examples DDP tutorial's
# recipe). The cell prints them from the library source, so what you read is what runs:
#
# 1. `init_process_group` with a timeout: a process that never arrives is an error, not a hang;
# 2. the device: `cuda:LOCAL_RANK` (one GPU per process) or the CPU;
# 3. each rank's shard of each epoch (`DistributedSampler`, or `ShardedLoader` for in-memory tensors), with
#    `set_epoch(epoch)` so every epoch is reshuffled, identically on all ranks;
# 4. `DDP(model)`: the gradient all-reduce;
# 5. the epoch's sums all-reduced; rank 0 alone evaluates, prints and writes the checkpoint (atomically).

# %%
source = "".join(inspect.getsource(f) for f in (parallel.setup, parallel.sharded_loaders, parallel.train_ddp))
markers = ("init_process_group(", '"cuda", local_rank', "ShardedLoader(train", "DistributedSampler(dataset",
           "set_epoch(epoch)", "ddp = DDP(", "dist.all_reduce(totals)", "if ctx.is_main:  # evaluate",
           "save_checkpoint(ckpt")
for line in source.splitlines():
    if any(m in line for m in markers):
        print(line.strip())

# %% [markdown]
# A real run on MNIST: two processes x 64 images per step = a global batch of 128, 2 epochs, OneCycle up to
# lr 0.1 (the other settings come from the MNIST recipe). `--batch-size` is **per process**: N processes
# make the global batch N*B, so an epoch has N times fewer steps than one process with batch B (a common rule
# of thumb scales the learning rate with the global batch, with a warm-up: Goyal et al. 2017). Fast mode
# trains 1 epoch on a 4,096-image subset, with 16 images per process so that it still makes 128 steps.

# %%
CKPT = WORK / "mnist_ddp.pt"
BATCH = 16 if FAST else 64  # per process
start = time.perf_counter()
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist --epochs 2 --batch-size {BATCH} --lr 0.1 --checkpoint {CKPT} --timeout 120
print(f"wall time, including starting torchrun and 2 Python processes: {time.perf_counter() - start:.1f} s")

# %%
state = load_checkpoint(CKPT)
history = History.from_dict(state["history"])
print(history.table())
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
#   `COURSE_DDP_CRASH_RANK=1 COURSE_DDP_CRASH_EPOCH=2` and `--epochs 3`; `tests/test_parallel.py` checks that
#   the resumed run ends with bit-identical weights.
# - **More processes than training images**: refused before training, saying what to change.

# %%
try:
    parallel.setup()  # in this kernel: no RANK, WORLD_SIZE, ... are set
except parallel.DistributedError as exc:
    print(f"DistributedError: {exc}")

# %% [markdown]
# ## 5. Throughput: 1 process x 2 threads vs 2 processes x 1 thread
#
# This machine has 2 cores. One process can use both through threads *inside* each operation (one
# convolution split across 2 threads), or two processes can each use one core on half of the batch and only
# meet once per step for the all-reduce (a few tens of kB of gradients for this small model). The `bench`
# command times all setups inside one torchrun launch, interleaved (rank 0 trains alone while rank 1 sleeps
# in a barrier, then both train under DDP), so they share the machine's noise.

# %%
BENCH = WORK / "bench.json"
# !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel bench --out {BENCH} --timeout 300
bench = json.loads(BENCH.read_text())
assert [r["processes"] for r in bench["rows"]] == [1, 1, 2]
viz.bar_chart({r["setup"]: r["images_per_s"] for r in bench["rows"]},
              f"training throughput, global batch {bench['global_batch']}", "images / s", fmt="{:.0f}", rotate=10)

# %% [markdown]
# **Reading it.** Inside one process, 2 threads split each operation (one convolution) in two halves that
# must both finish before the next operation starts; small operations like these split poorly, and if
# another program holds one of the cores, one thread waits for it while the other spins. Two processes each
# run whole operations on one core and meet only once per step. Measured on this shared 2-core machine
# (torch 2.14.1, load average 2-4 from other jobs, 5 runs in one day): 1 process x 2 threads ranged from
# 1.6x one thread down to 0.13x depending on what else was running, while 2 processes x 1 thread stayed
# between 0.95x and 1.6x - never far from one thread, usually ahead of both. On an idle machine both can approach 2x (not measured: this machine was
# never idle); the all-reduce costs little here because the model is tiny. `benchmarks/ddp_throughput.py`
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
# ### Exercises
# 1. Run the `grads` cell with `--nproc_per_node=4` and `--batch-size 16`: still the same 64 images - still equal?
# 2. Use `--nproc_per_node=1` in the training cell: how do the steps per epoch and the accuracy change?
# 3. In a terminal, crash rank 1 at epoch 2 of a 3-epoch run (`COURSE_DDP_CRASH_RANK=1`), then resume it.

# %% [markdown] tags=["summary"]
# ## Summary
#
# - Data parallelism: N processes, one full model copy each, each on its own B images; DDP all-reduces
#   (averages) the gradients during `backward`, so all copies take the same step.
# - With equal shards the average of the per-process mean gradients *is* the mean over all N*B images: N x B
#   in DDP = 1 x N*B on one device, to float32 rounding - except with BatchNorm, whose statistics are per
#   process (SyncBatchNorm on GPUs, or GroupNorm/LayerNorm, restore the equality).
# - Launch with `torchrun` (from a notebook: `!{sys.executable} -m torch.distributed.run ...`), never
#   `mp.spawn` or DataParallel in a notebook; gloo on CPU, nccl on GPU (one process per GPU, `LOCAL_RANK`).
# - The diff from single-device training: process group with a timeout, sharded data with `set_epoch`, the
#   DDP wrap, rank-0 logging, evaluation and atomic checkpoints (resumable).

# %% tags=["summary"]
import torch

from course_lib import parallel

# Each of 4 processes gets its own quarter of the 10 images of an epoch (padded to equal shards):
for rank in range(4):
    print(f"rank {rank}: images {parallel.shard_indices(10, rank, 4, shuffle=False).tolist()}")

# The average of per-process mean gradients is the mean gradient of the whole batch:
per_sample_grads = torch.randn(8, 5)                      # 8 images, 5 weights
shards = per_sample_grads.chunk(2)                        # 2 processes x 4 images
all_reduced = torch.stack([g.mean(0) for g in shards]).mean(0)
assert torch.allclose(all_reduced, per_sample_grads.mean(0))
print("all-reduce(mean) of 2 x 4 images == mean over 8 images")

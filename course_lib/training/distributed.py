"""Data-parallel training with DistributedDataParallel (DDP), launched by torchrun: what is distributed.

N processes (one per GPU, or one per CPU core) each hold a full copy of the model. At every step each
takes its own B images, computes its own gradients, and DDP *all-reduces* them (averages them across
processes during `backward`), so every copy applies the same update: N processes x B images act like one
process with N*B images (exactly so for models without BatchNorm).

The training loop is `fit()`, the same as on one device. The diff (pytorch/examples' ddp-tutorial-series)
is `setup()` plus the methods of `Context`, which fit() calls where one process and N differ:
  1. `init_process_group("gloo" on CPU | "nccl" on CUDA, timeout=...)`   every process finds the others
  2. device: `cuda:LOCAL_RANK` (one GPU per process) or the CPU
  3. `shard`: each process trains on its own shard of each epoch (DistributedSampler + `set_epoch`)
  4. `wrap`: `DistributedDataParallel(model)`, the gradient all-reduce
  5. `sum` / `slowest` / `from_main`: the epoch's totals all-reduced; rank 0 alone evaluates, prints and
     writes (atomic) checkpoints, and reads them back on resume (`load_checkpoint`), then broadcasts
"""
from __future__ import annotations

import datetime
import gc
import math
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from ..config import DEFAULT_TIMEOUT_S, TrainConfig
from ..data import InMemoryLoader
from ..errors import CourseError, DataError
from .checkpoint import CheckpointError, save_checkpoint
from .device import get_device
from .loop import SingleProcess
from .recipes import run_training

ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # set by torchrun


class DistributedError(CourseError):
    """The processes could not find each other, or one of them vanished."""


# ----------------------------------------------------------------------------- launching


def launch_command(nproc: int, args: Sequence[str] = (), python: str | None = None) -> list[str]:
    """`python -m course_lib.launch --standalone --nproc_per_node=N -m course_lib.parallel ARGS` (torchrun
    with the course's timeout and one-line errors). `--standalone` picks a free port on this machine."""
    return [python or sys.executable, "-m", "course_lib.launch", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "course_lib.parallel", *map(str, args)]


def free_port() -> int:  # for hand-made rendezvous in tests
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]


@dataclass
class Context(SingleProcess):
    """This process among N: its rank, device and backend, and fit()'s questions answered for DDP."""

    local_rank: int = 0  # 0..nproc_per_node-1 on this node: picks the GPU
    backend: str = "gloo"  # gloo (CPU) | nccl (CUDA)
    timeout_s: float = DEFAULT_TIMEOUT_S
    epoch: int = -1  # the epoch under way (for error messages)

    def batch_note(self, batch_size: int) -> str:
        return (f" per process; {self.world_size} processes ({self.backend} on {self.device.type}) = "
                f"global batch {self.world_size * batch_size}")

    def shard(self, loader, config: TrainConfig):
        if isinstance(loader, InMemoryLoader):
            return ShardedLoader(loader, self.rank, self.world_size)
        dataset = loader.dataset  # the classic path: DataLoader + DistributedSampler
        shard_indices(len(dataset), self.rank, self.world_size, shuffle=False)  # clear error when too small
        sampler = DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True,
                                     seed=config.seed)
        return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler)

    def wrap(self, model: nn.Module) -> nn.Module:
        return DDP(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def load_checkpoint(self, path: Path, config: TrainConfig) -> dict | None:
        """Rank 0 reads and checks the checkpoint and broadcasts it: other nodes need no copy of the file."""
        box: list = [None]
        if self.is_main:
            try:
                state = super().load_checkpoint(path, config)
                saved_n = int(state.get("world_size", 1)) if state else self.world_size
                if saved_n != self.world_size:
                    raise CheckpointError(
                        f"{path} was written by a run with {saved_n} process(es) (global batch "
                        f"{saved_n} x {config.batch_size}); this run has {self.world_size}. Resume with "
                        f"--nproc_per_node={saved_n}, or use another --checkpoint path.")
                box = [state]
            except CheckpointError as exc:
                box = [{"error": str(exc)}]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None and "error" in box[0]:
            raise CheckpointError(box[0]["error"])
        return box[0]

    def checkpoint_extra(self) -> dict[str, Any]:
        return {"world_size": self.world_size}

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        _maybe_crash(self.rank, epoch)

    def sum(self, *values) -> list[float]:
        totals = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(totals)  # sums over all ranks: the whole epoch's loss and accuracy
        return totals.tolist()

    def slowest(self, seconds: float) -> float:
        t = torch.tensor(seconds, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
        return t.item()

    def from_main(self, obj):
        box = [(obj, self.saved_epoch) if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        obj, self.saved_epoch = box[0]  # every rank learns what rank 0 has written to its disk
        return obj


# ----------------------------------------------------------------------------- rendezvous


def setup(device: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> Context:
    """Join the process group torchrun prepared: pick device and backend, rendezvous with a timeout."""
    missing = [name for name in ENV_VARS if name not in os.environ]
    if missing:
        raise DistributedError(
            f"course_lib.parallel runs as one of several processes, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set. Launch it with torchrun, which starts the "
            "processes and sets these variables:\n"
            "    torchrun --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist\n"
            "from a notebook (the kernel's Python):\n"
            "    !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 "
            "-m course_lib.parallel --dataset mnist")
    world_size = _int_env("WORLD_SIZE", 1)
    rank, local_rank = _int_env("RANK", 0, world_size - 1), _int_env("LOCAL_RANK", 0, world_size - 1)
    _int_env("MASTER_PORT", 1, 65535)
    dev = get_device(device or None)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK {local_rank} but this node has {torch.cuda.device_count()} "
                                   "GPU(s): one process per GPU, so use --nproc_per_node <= that number.")
        dev, backend = torch.device("cuda", local_rank), "nccl"  # NCCL: GPU-to-GPU all-reduce
        torch.cuda.set_device(dev)
    else:
        dev, backend = torch.device("cpu"), "gloo"  # gloo: all-reduce over TCP between CPU processes
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        # env:// rendezvous: all WORLD_SIZE processes meet at the key-value store at MASTER_ADDR:PORT
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    except (dist.DistError, RuntimeError, ValueError) as exc:
        raise DistributedError(
            f"[rank {rank}] rendezvous failed: the {world_size} processes did not all meet at {where} "
            f"within {timeout_s:g} s ({type(exc).__name__}: {_first_line(exc)}). Start every process "
            "(on every node) with the same --master_addr/--master_port or --rdzv_endpoint and the same "
            "--nnodes/--nproc_per_node, or allow more time with --timeout.") from exc
    return Context(dev, rank, world_size, local_rank=local_rank, backend=backend, timeout_s=timeout_s)


def _int_env(name: str, low: int, high: int = 1 << 30) -> int:
    text = os.environ[name]
    if not (text.strip().isdigit() and low <= int(text) <= high):
        raise DistributedError(f"environment variable {name} is not a whole number in [{low}, {high}] "
                               f"({name}={text!r}): let torchrun set it, or fix it by hand")
    return int(text)


def teardown() -> None:
    """Leave the process group after a successful run, while Python is still fully alive."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # DDP wrappers sit in reference cycles that hold the group: free them now, not at exit
        dist.barrier()  # no rank closes its connections while another still sends
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- sharding


def shard_indices(n: int, rank: int, world_size: int, seed: int = 0, epoch: int = 0,
                  shuffle: bool = True) -> torch.Tensor:
    """DistributedSampler's rule: one permutation shared by all ranks (seeded by (seed, epoch)),
    padded by repeating its start to a multiple of world_size, and rank r keeps positions r, r+N, ...

    The permutation is InMemoryLoader's, so the union of the ranks' i-th batches of B images is
    exactly batch i of a single-process loader with N*B images (when N divides n).
    """
    if n < world_size:
        raise DataError(f"the training set has {n} images but there are {world_size} processes: some "
                        "would get no batch at all. Use fewer processes (--nproc_per_node) or more "
                        "images (--train-size 0 = all of them).")
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    else:
        order = torch.arange(n)
    total = math.ceil(n / world_size) * world_size
    order = torch.cat([order, order[:total - n]])  # pad: every rank gets the same number of images
    return order[rank::world_size]


class ShardedLoader:
    """One rank's share of an InMemoryLoader's data, reshuffled each epoch by `set_epoch`."""

    def __init__(self, base: InMemoryLoader, rank: int, world_size: int):
        self.base, self.rank, self.world_size, self.epoch = base, rank, world_size, 0
        self.num_samples = math.ceil(base.num_samples / world_size)  # per rank, after padding
        shard_indices(base.num_samples, rank, world_size, shuffle=False)  # fail early when too small

    def set_epoch(self, epoch: int) -> None:
        """Same permutation on every rank for this epoch, a new one next epoch (like DistributedSampler)."""
        self.epoch = epoch

    @property
    def augment(self) -> bool:
        """The base loader's switch (fit's `clean_epochs` turn it off for the last epochs)."""
        return self.base.augment

    @augment.setter
    def augment(self, on: bool) -> None:
        self.base.augment = on

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.base.batch_size)  # identical on every rank

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = shard_indices(self.base.num_samples, self.rank, self.world_size, self.base.seed, self.epoch,
                            self.base.shuffle)
        # this rank's images in shard order; the base loader's batching/normalizing/augmenting does the rest
        shard = InMemoryLoader(self.base.images[idx], self.base.labels[idx], self.base.spec,
                               self.base.batch_size, shuffle=False, seed=self.base.seed * 1000 + self.rank,
                               augment=self.base.augment)
        shard.set_epoch(self.epoch)
        return iter(shard)


# ----------------------------------------------------------------------------- a run, and its faults


def _maybe_crash(rank: int, epoch: int) -> None:
    """Fault injection: COURSE_DDP_CRASH_RANK=r kills rank r at the start of COURSE_DDP_CRASH_EPOCH."""
    if os.environ.get("COURSE_DDP_CRASH_RANK") != str(rank):
        return
    if epoch + 1 != (_int_env("COURSE_DDP_CRASH_EPOCH", 1) if "COURSE_DDP_CRASH_EPOCH" in os.environ else 2):
        return
    print(f"[rank {rank}] COURSE_DDP_CRASH_RANK={rank}: simulating a crash (SIGKILL, no cleanup) at the "
          f"start of epoch {epoch + 1}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _is_communication_error(exc: BaseException) -> bool:
    """True for errors of the process group itself (a peer gone, a timeout), not of the model code."""
    text = str(exc).lower()  # gloo's words differ by where it waited: "Timed out", "Application timeout
    return isinstance(exc, dist.DistError) or any(  # caused pair closure" (DDP's buffer broadcast), ...
        mark in text for mark in ("gloo", "nccl", "connection reset", "connection closed", "timed out", "timeout",
                                  "pair closure"))


def gather_parameters(model: nn.Module, ctx: Context) -> torch.Tensor:
    """Every rank's parameters as one row each, (world_size, P), on every rank."""
    mine = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    rows = [torch.empty_like(mine) for _ in range(ctx.world_size)]
    dist.all_gather(rows, mine)
    return torch.stack(rows).cpu()


def train(config: TrainConfig, ctx: Context, params_out: str = "") -> nn.Module:
    """`run_training` in this process of N; a lost peer becomes one clear error. `params_out`: every
    rank's final weights, gathered by rank 0, to check that they agree."""
    try:
        model, _ = run_training(config, progress=False, world=ctx)
    except RuntimeError as exc:
        if not _is_communication_error(exc):
            raise
        done = ("" if not config.checkpoint else  # what rank 0 confirmed to every rank, not what it meant to do
                f"Rank 0 confirmed {config.checkpoint} holds {ctx.saved_epoch} finished epoch(s) (on its node's "
                "disk): the same command resumes from there." if ctx.saved_epoch else
                f"Rank 0 confirmed no checkpoint in {config.checkpoint} for this run.")
        during = f"during epoch {ctx.epoch + 1}" if ctx.epoch >= 0 else "before the first epoch"
        raise DistributedError(
            f"[rank {ctx.rank}] lost the other processes {during} ({type(exc).__name__}: {_first_line(exc)}). "
            f"One of them crashed, was killed or stalled longer than --timeout {ctx.timeout_s:g} s: look for "
            f"its error above. {done}") from exc
    if params_out:
        rows = gather_parameters(model, ctx)
        if ctx.is_main:
            save_checkpoint(params_out, {"params": rows, "names": [n for n, _ in model.named_parameters()]})
            ctx.log(f"parameters of all {ctx.world_size} ranks -> {params_out}; max |rank r - rank 0| = "
                    f"{(rows - rows[0]).abs().max().item():.3g}")
    return model

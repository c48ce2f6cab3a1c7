"""Data-parallel training with torch.distributed: DistributedDataParallel (DDP), launched by torchrun.

N processes (one per GPU, or one per CPU core) each hold a full copy of the model. At every step
each takes its own B images, computes its own gradients, and DDP *all-reduces* them (averages them
across processes during `backward`), so every copy applies the same update: N processes x B images
act like one process with N*B images (exactly so for models without BatchNorm).

The diff from single-device `fit()` (pytorch/examples' ddp-tutorial-series):
  1. `init_process_group("gloo" on CPU | "nccl" on CUDA, timeout=...)`  every process finds the others
  2. device: `cuda:LOCAL_RANK` (one GPU per process) or the CPU
  3. each process trains on its own shard of each epoch: DistributedSampler + `set_epoch(epoch)`
  4. `model = DistributedDataParallel(model)`                              the gradient all-reduce
  5. only rank 0 prints, evaluates and writes (atomic) checkpoints

One machine (torchrun starts N processes and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT):

    torchrun --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist --epochs 2
    python -m torch.distributed.run --standalone --nproc_per_node=2 -m course_lib.parallel ...  # a chosen python

Every TrainConfig field is a flag; `--batch-size` is *per process* (global batch = N x B). Extra flags:
`--timeout S` (rendezvous and every collective, default $COURSE_DDP_TIMEOUT or 300 s: a missing or dead
process gives an error after S seconds, never a hang) and `--params-out FILE` (every rank's final weights,
gathered by rank 0, to check that they agree).

Several machines: torchrun's standard rendezvous flags, the same command on every node. Static:

    torchrun --nnodes=2 --node_rank=K --nproc_per_node=4 --master_addr=HOST0 --master_port=29500 \\
        -m course_lib.parallel --dataset cifar10          # K=0 on HOST0 (it hosts the store), K=1 elsewhere

or elastic (c10d) rendezvous, identical on every node (ranks assigned on arrival):

    torchrun --nnodes=2 --nproc_per_node=4 --rdzv_backend=c10d --rdzv_endpoint=HOST0:29500 \\
        --rdzv_id=run42 --rdzv_conf=join_timeout=120 -m course_lib.parallel --dataset cifar10

A node that never arrives: torchrun gives up after the rendezvous timeout (`--rdzv_conf=join_timeout=S`
for c10d, `timeout=S` for static; both default to 600 s), each worker after `--timeout`. Only global
rank 0 writes the checkpoint (on its node's disk) and reads it back on resume, then broadcasts it:
resuming needs no shared filesystem, only the same node as rank 0.

Other commands (parallel_checks.py): `... -m course_lib.parallel grads --out g.pt` (the per-rank and
all-reduced gradients of one batch) and `... bench --out b.json` (throughput: 1 process vs N);
parallel_roundrobin.py: `... roundrobin --out rr.pt` (round-robin batches: replicas alone, all-reduce by hand, DDP).
Fault injection for the tests and the lesson: COURSE_DDP_CRASH_RANK=r [COURSE_DDP_CRASH_EPOCH=e, default 2]
kills rank r with SIGKILL at the start of epoch e.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import math
import os
import signal
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import TrainConfig, add_config_arguments, config_from_args
from .data import InMemoryLoader, get_loaders, is_fast_mode
from .errors import CourseError, DataError
from .models import build_model, count_parameters
from .train import (
    History,
    augmentation_schedule,
    check_checkpoint,
    checkpoint_state,
    evaluate,
    get_device,
    make_optimizer,
    restore_checkpoint,
    seed_everything,
    train_epoch,
)

# the other commands: name -> the module holding `add_arguments` and `<name>_command`
COMMANDS = {"grads": "parallel_checks", "bench": "parallel_checks", "roundrobin": "parallel_roundrobin"}
ENV_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # set by torchrun
DEFAULT_TIMEOUT_S = 300.0


class DistributedError(CourseError):
    """The processes could not find each other, or one of them vanished."""


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among `world_size`, its device and backend."""

    rank: int  # 0..world_size-1 over all nodes
    local_rank: int  # 0..nproc_per_node-1 on this node: picks the GPU
    world_size: int
    device: torch.device
    backend: str  # gloo (CPU) | nccl (CUDA)
    timeout_s: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def log(self, *args) -> None:
        """print() on rank 0 only, so N processes do not print N copies."""
        if self.is_main:
            print(*args, flush=True)


# ----------------------------------------------------------------------------- launching


def launch_command(nproc: int, args: Sequence[str] = (), python: str | None = None) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc_per_node=N -m course_lib.parallel ARGS`.

    `--standalone` picks a free port on this machine, so runs side by side never collide.
    """
    return [python or sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "course_lib.parallel", *map(str, args)]


def free_port() -> int:
    """A TCP port nobody listens on right now (for hand-made rendezvous in tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch_hint() -> str:
    return ("Launch it with torchrun, which starts the processes and sets these variables:\n"
            "    torchrun --standalone --nproc_per_node=2 -m course_lib.parallel --dataset mnist\n"
            "from a notebook (the kernel's Python):\n"
            "    !{sys.executable} -m torch.distributed.run --standalone --nproc_per_node=2 "
            "-m course_lib.parallel --dataset mnist")


def setup(device: str = "", timeout_s: float = DEFAULT_TIMEOUT_S) -> Context:
    """Join the process group torchrun prepared: pick device and backend, rendezvous with a timeout."""
    missing = [name for name in ENV_VARS if name not in os.environ]
    if missing:
        raise DistributedError(f"course_lib.parallel runs as one of several processes, but "
                               f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. "
                               + _launch_hint())
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
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
    return Context(rank, local_rank, world_size, dev, backend, timeout_s)


def teardown() -> None:
    """Leave the process group after a successful run, while Python is still fully alive."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()  # DDP wrappers sit in reference cycles that hold the group: free them now, not at exit
        dist.barrier()  # no rank closes its connections while another still sends
        dist.destroy_process_group()


def _is_communication_error(exc: BaseException) -> bool:
    """True for errors of the process group itself (a peer gone, a timeout), not of the model code."""
    text = str(exc)
    return isinstance(exc, dist.DistError) or any(
        mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed", "Timed out"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


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


def sharded_loaders(config: TrainConfig, ctx: Context):
    """(this rank's training loader, the full test loader, training-set size) for `config`."""
    train, test = get_loaders(config.dataset, config.batch_size, in_memory=config.in_memory,
                              root=config.data_root or None, augment=config.augment, seed=config.seed,
                              train_size=config.train_size or None)
    if isinstance(train, InMemoryLoader):
        return ShardedLoader(train, ctx.rank, ctx.world_size), test, train.num_samples
    dataset = train.dataset  # the classic path: DataLoader + DistributedSampler
    shard_indices(len(dataset), ctx.rank, ctx.world_size, shuffle=False)  # clear error when too small
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True,
                                 seed=config.seed)
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler), test, len(dataset)


# ----------------------------------------------------------------------------- training


def _maybe_crash(rank: int, epoch: int) -> None:
    """Fault injection: COURSE_DDP_CRASH_RANK=r kills rank r at the start of COURSE_DDP_CRASH_EPOCH."""
    if os.environ.get("COURSE_DDP_CRASH_RANK") != str(rank):
        return
    if epoch + 1 != int(os.environ.get("COURSE_DDP_CRASH_EPOCH", "2")):
        return
    print(f"[rank {rank}] COURSE_DDP_CRASH_RANK={rank}: simulating a crash (SIGKILL, no cleanup) at the "
          f"start of epoch {epoch + 1}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _resume_state(path: Path | None, config: TrainConfig, ctx: Context) -> dict | None:
    """Rank 0 reads and checks the checkpoint and broadcasts it: other nodes need no copy of the file."""
    box: list = [None]
    if ctx.is_main and path and path.exists() and config.resume:
        try:
            state = load_checkpoint(path)
            check_checkpoint(state, path, config)
            saved_n = int(state.get("world_size", 1))
            if saved_n != ctx.world_size:
                raise CheckpointError(
                    f"{path} was written by a run with {saved_n} process(es) (global batch "
                    f"{saved_n} x {config.batch_size}); this run has {ctx.world_size}. Resume with "
                    f"--nproc_per_node={saved_n}, or use another --checkpoint path.")
            box = [state]
        except CheckpointError as exc:
            box = [{"error": str(exc)}]
    dist.broadcast_object_list(box, src=0)
    if box[0] is not None and "error" in box[0]:
        raise CheckpointError(box[0]["error"])
    return box[0]


def gather_parameters(model: nn.Module, ctx: Context) -> torch.Tensor:
    """Every rank's parameters as one row each, (world_size, P), on every rank."""
    mine = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    rows = [torch.empty_like(mine) for _ in range(ctx.world_size)]
    dist.all_gather(rows, mine)
    return torch.stack(rows).cpu()


def train_ddp(config: TrainConfig, ctx: Context, params_out: str = "") -> tuple[nn.Module, History]:
    """`fit()` for N processes: sharded data, DDP-averaged gradients, rank-0 evaluation and checkpoints."""
    if is_fast_mode() and config.epochs > 1:
        config = config.replace(epochs=1)
        ctx.log("COURSE_FAST=1: 1 epoch on a subset")
    from .recipes import environment_line

    ctx.log(f"config:\n{config.describe()}\n{environment_line()}")
    seed_everything(config.seed)  # same initial weights everywhere (DDP also broadcasts rank 0's)
    train_loader, test_loader, n_train = sharded_loaders(config, ctx)
    model = build_model(config.dataset, config.head, config.backbone or None).to(ctx.device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    opt, sched = make_optimizer(model, config, len(train_loader))
    ckpt = Path(config.checkpoint) if config.checkpoint else None
    history, start = History(), 0
    state = _resume_state(ckpt, config, ctx)
    if state is not None:
        start, history = restore_checkpoint(state, model, opt, sched)  # same state on every rank
        ctx.log(f"resumed from {ckpt}: {start} of {config.epochs} epochs done")
    ddp = DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    ctx.log(f"{ctx.world_size} processes ({ctx.backend} on {ctx.device.type}); model: "
            f"{count_parameters(model):,} parameters; {n_train} training images, {len(train_loader)} steps "
            f"per epoch of {config.batch_size} images per process = global batch "
            f"{ctx.world_size * config.batch_size}")
    with augmentation_schedule(train_loader, config) as start_epoch_augmentation:
        for epoch in range(start, config.epochs):
            _maybe_crash(ctx.rank, epoch)
            torch.manual_seed(config.seed * 1000 + epoch + 7919 * ctx.rank)  # dropout differs per rank
            if isinstance(train_loader, ShardedLoader):
                train_loader.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
            else:
                train_loader.sampler.set_epoch(epoch)  # DistributedSampler: forget this and every epoch repeats
            start_epoch_augmentation(epoch)
            try:
                ep = train_epoch(ddp, train_loader, loss_fn, opt, sched, ctx.device, config, progress=False)
                totals = torch.stack([ep.loss_sum.double(), ep.correct.double(),
                                      torch.tensor(float(ep.seen), device=ctx.device, dtype=torch.float64)])
                dist.all_reduce(totals)  # sums over all ranks: the whole epoch's loss and accuracy
                seconds = torch.tensor(ep.seconds, device=ctx.device)
                dist.all_reduce(seconds, op=dist.ReduceOp.MAX)  # the slowest rank sets the pace
                record_box: list = [None]
                if ctx.is_main:  # evaluate the plain module: DDP's forward would wait for the other ranks
                    result = evaluate(model, test_loader, ctx.device, bf16=config.bf16,
                                      channels_last=config.channels_last)
                    loss_sum, correct, seen = totals.tolist()
                    history.append(epoch=epoch + 1, train_loss=loss_sum / seen, train_acc=correct / seen,
                                   test_loss=result.loss, test_acc=result.accuracy, seconds=seconds.item())
                    if ckpt:
                        save_checkpoint(ckpt, checkpoint_state(epoch + 1, model, opt, sched, history, config,
                                                               world_size=ctx.world_size))
                    record_box = [history.to_dict()]
                    ctx.log(f"epoch {epoch + 1}/{config.epochs}: train loss {history.train_loss[-1]:.4f}, "
                            f"test acc {result.accuracy:.2%} ({seconds.item():.1f} s)")
                dist.broadcast_object_list(record_box, src=0)  # also: nobody runs ahead of rank 0's checkpoint
                history = History.from_dict(record_box[0])
            except RuntimeError as exc:
                if not _is_communication_error(exc):
                    raise
                done = (f"{ckpt} holds the last finished epoch: run the same command again to resume."
                        if ckpt else "")
                raise DistributedError(
                    f"[rank {ctx.rank}] lost the other processes during epoch {epoch + 1} "
                    f"({type(exc).__name__}: {_first_line(exc)}). One of them crashed, was killed or stalled "
                    f"longer than --timeout {ctx.timeout_s:g} s: look for its error above. {done}") from exc
    if params_out:
        rows = gather_parameters(model, ctx)
        if ctx.is_main:
            save_checkpoint(params_out, {"params": rows, "names": [n for n, _ in model.named_parameters()]})
            ctx.log(f"parameters of all {ctx.world_size} ranks -> {params_out}; max |rank r - rank 0| = "
                    f"{(rows - rows[0]).abs().max().item():.3g}")
    return model, history


# ----------------------------------------------------------------------------- command line


def build_parser(command: str) -> argparse.ArgumentParser:
    """The flags of `command` (train | grads | bench | roundrobin): every TrainConfig field plus a few of its own."""
    parser = argparse.ArgumentParser(prog=f"torchrun ... -m course_lib.parallel {command}",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--timeout", type=float,
                        default=float(os.environ.get("COURSE_DDP_TIMEOUT", DEFAULT_TIMEOUT_S)),
                        help="seconds to wait for the rendezvous and for every collective")
    if command == "train":
        parser.add_argument("--params-out", default="", help="write every rank's final parameters here")
    else:
        importlib.import_module(f"{__package__}.{COMMANDS[command]}").add_arguments(parser, command)
    return parser


def parse(argv: Sequence[str]) -> tuple[str, argparse.Namespace]:
    """(command, flags); flags not given fall back to the dataset's tuned recipe, as in `course_lib train`."""
    argv = list(argv)
    command = argv.pop(0) if argv and argv[0] in ("train", *COMMANDS) else "train"
    parser = build_parser(command)
    args = parser.parse_args(argv)
    from .recipes import RECIPES

    if command == "train" and args.dataset in RECIPES:
        parser.set_defaults(**asdict(RECIPES[args.dataset]))
        args = parser.parse_args(argv)
    return command, args


@record  # a worker's traceback reaches torchrun's failure summary
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of every process torchrun starts."""
    command, args = parse(sys.argv[1:] if argv is None else argv)
    config = config_from_args(args)
    rank = os.environ.get("RANK", "?")
    try:
        ctx = setup(config.device, args.timeout)
        if command == "train":
            train_ddp(config, ctx, args.params_out)
        else:
            module = importlib.import_module(f"{__package__}.{COMMANDS[command]}")
            getattr(module, f"{command}_command")(config, ctx, args)
        teardown()  # only after success: after a failure, leaving the group could wait on a dead peer
    except DistributedError as exc:  # about this very process: every rank says it
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except CourseError as exc:  # the same on every rank (bad data, checkpoint): rank 0 says it
        if rank in ("0", "?"):
            print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

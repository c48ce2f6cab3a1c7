"""`roundrobin`: "one batch to one device, the next batch to another", run literally by N processes.

    torchrun --standalone --nproc_per_node=2 -m course_lib.parallel roundrobin --out rr.pt

Batch i of a fixed stream goes to rank i mod N, so at step t rank r trains on batch t*N + r. Three phases,
each from the same initial weights (a model without BatchNorm unless `--norm`), plain SGD:

  alone      each rank updates its own replica with its own batches, no communication: they drift apart
  allreduce  the same, but before each step the gradients are averaged by hand (`dist.all_reduce`, then / N):
             the replicas stay identical, and equal one process trained on the N batches concatenated
  ddp        DistributedDataParallel does that all-reduce inside `backward`: the same weights as by hand

The distance between the ranks' parameters is measured after every step (gathered only to display it),
and each rank records when it runs forward, backward, all-reduce and step (the timeline). Rank 0 writes
everything to `--out`; `single_process_run` redoes the training in one process for the comparison.
"""
from __future__ import annotations

import argparse
import contextlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..config import TrainConfig
from ..models import build_model
from .checkpoint import load_checkpoint, save_checkpoint
from .device import seed_everything
from .distributed_checks import NORMS, fixed_batch, with_norm

PHASES = ("alone", "allreduce", "ddp")
SPANS = ("forward", "backward", "all-reduce", "step")  # what a rank can be doing, in timeline order


def add_arguments(parser: argparse.ArgumentParser, command: str = "roundrobin") -> None:
    """The flags of `roundrobin` (on top of TrainConfig's)."""
    parser.add_argument("--out", required=True, help="file for the results (rank 0 writes)")
    parser.add_argument("--steps", type=int, default=8, help="optimizer steps per phase")
    parser.add_argument("--norm", default="none", choices=NORMS, help="none: the model without BatchNorm")
    parser.set_defaults(batch_size=32, lr=0.1)  # B images per rank and step


def param_vector(model: nn.Module) -> torch.Tensor:
    """All parameters as one flat vector (a copy)."""
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def fresh_model(config: TrainConfig, norm: str) -> nn.Module:
    """The same initial weights on every rank and in every phase (seeded)."""
    seed_everything(config.seed)
    return with_norm(build_model(config.dataset, config.head, config.backbone or None), norm)


def batch_stream(config: TrainConfig, world_size: int, steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(X, y, indices) of steps*N batches of B images; batch i is rows i*B ... (i+1)*B - 1."""
    return fixed_batch(config, steps * world_size * config.batch_size)


def rank_batch(X: torch.Tensor, y: torch.Tensor, step: int, rank: int, world_size: int,
               batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Round-robin: at `step`, rank r trains on batch step*N + r of the stream."""
    i = step * world_size + rank
    return X[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]  # (N*B*steps,...) -> (B,...)


class Timeline:
    """Spans (phase, step, what, start, end) of one rank, in seconds since the phase's barrier."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, str, float, float]] = []
        self.t0 = time.perf_counter()

    def start(self) -> None:
        dist.barrier()  # all ranks leave together: a common zero for the phase
        self.t0 = time.perf_counter()

    @contextlib.contextmanager
    def span(self, phase: str, step: int, what: str):
        """Record the block inside (a `with`) as one span of this rank."""
        begin = time.perf_counter()
        yield
        self.events.append((phase, step, what, begin - self.t0, time.perf_counter() - self.t0))


def _gather(vector: torch.Tensor, world_size: int) -> torch.Tensor:
    rows = [torch.empty_like(vector) for _ in range(world_size)]
    dist.all_gather(rows, vector.contiguous())
    return torch.stack(rows)  # (N, P)


def run_phase(phase: str, config: TrainConfig, ctx, X: torch.Tensor, y: torch.Tensor, steps: int, norm: str,
              timeline: Timeline) -> dict:
    """Train `steps` round-robin steps in `phase`; the parameter distance between ranks after each."""
    n, B = ctx.world_size, config.batch_size
    model = fresh_model(config, norm).to(ctx.device)
    net = DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) if phase == "ddp" else model
    opt = torch.optim.SGD(model.parameters(), lr=config.lr)  # plain SGD: the step is W <- W - lr * grad
    distance, trajectory = [], []
    timeline.start()
    for step in range(steps):
        Xb, yb = rank_batch(X, y, step, ctx.rank, n, B)
        with timeline.span(phase, step, "forward"):
            loss = nn.functional.cross_entropy(net(Xb.to(ctx.device)), yb.to(ctx.device))  # mean over my B
        opt.zero_grad(set_to_none=True)
        with timeline.span(phase, step, "backward"):
            loss.backward()  # under DDP the all-reduce runs inside this call
        if phase == "allreduce":
            with timeline.span(phase, step, "all-reduce"):
                for p in model.parameters():
                    dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # every rank now holds the sum
                    p.grad /= n  # ... and the mean: what one process on all N*B images computes
        with timeline.span(phase, step, "step"):
            opt.step()
        rows = _gather(param_vector(model), n)  # for display only: how far apart are the replicas?
        distance.append((rows - rows[0]).norm(dim=1).max().item())
        trajectory.append(rows[0].cpu())
    return {"distance": distance, "trajectory": torch.stack(trajectory), "final": rows.cpu(),
            "loss_rank0": loss.item()}


def roundrobin_command(config: TrainConfig, ctx, args) -> dict | None:
    """Run the three phases; rank 0 saves distances, weights and every rank's timeline to `--out`."""
    X, y, idx = batch_stream(config, ctx.world_size, args.steps)
    timeline = Timeline()
    record = {"world_size": ctx.world_size, "batch_per_rank": config.batch_size, "steps": args.steps,
              "lr": config.lr, "norm": args.norm, "indices": idx, "config": asdict(config), "phases": {}}
    for phase in PHASES:
        record["phases"][phase] = run_phase(phase, config, ctx, X, y, args.steps, args.norm, timeline)
    events = [None] * ctx.world_size
    dist.all_gather_object(events, timeline.events)
    record["timeline"] = [(rank, *event) for rank, rank_events in enumerate(events) for event in rank_events]
    if not ctx.is_main:
        return None
    save_checkpoint(args.out, record)
    drift = record["phases"]["alone"]["distance"][-1]
    ctx.log(f"{ctx.world_size} ranks x {config.batch_size} images, {args.steps} round-robin steps: distance "
            f"between replicas alone {drift:.3g}, with all-reduce "
            f"{record['phases']['allreduce']['distance'][-1]:.3g} -> {args.out}")
    return record


def single_process_run(record: dict) -> torch.Tensor:
    """The same training in this one process, each step on the N round-robin batches concatenated:
    the parameters after every step, (steps, P)."""
    config = TrainConfig(**record["config"])
    n, B, steps = record["world_size"], record["batch_per_rank"], record["steps"]
    X, y, idx = batch_stream(config, n, steps)
    if not torch.equal(idx, record["indices"]):
        raise ValueError("the data changed since the distributed run")
    model = fresh_model(config, record["norm"])
    opt = torch.optim.SGD(model.parameters(), lr=record["lr"])
    trajectory = []
    for step in range(steps):
        rows = slice(step * n * B, (step + 1) * n * B)  # batches step*N ... step*N + N-1, one after another
        loss = nn.functional.cross_entropy(model(X[rows]), y[rows])  # mean over all N*B images
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        trajectory.append(param_vector(model))
    return torch.stack(trajectory)


def summary(path: str | Path) -> dict:
    """The run at `path` and the comparisons the lesson asserts: drift, equality, DDP vs by hand."""
    record = load_checkpoint(path)
    phases = record["phases"]
    single = single_process_run(record)
    return {
        "record": record,
        "drift_alone": phases["alone"]["distance"],  # per step: largest |W_r - W_0| (L2) over ranks
        "drift_allreduce": phases["allreduce"]["distance"],
        "drift_ddp": phases["ddp"]["distance"],
        "allreduce_vs_single": (phases["allreduce"]["trajectory"] - single).abs().max().item(),
        "ddp_vs_allreduce": (phases["ddp"]["final"] - phases["allreduce"]["final"]).abs().max().item(),
        "alone_vs_single": (phases["alone"]["final"][0] - single[-1]).abs().max().item(),
        "moved": (single[-1] - param_vector(fresh_model(TrainConfig(**record["config"]), record["norm"])))
        .abs().max().item(),
    }


# ----------------------------------------------------------------------------- the same arithmetic in one process


def tiny_replicas(n: int, seed: int = 0) -> list[nn.Module]:
    """n copies of one small model (no BatchNorm) with identical weights: 'replicas' inside one process."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
    replicas = [model]
    for _ in range(n - 1):
        copy = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))
        copy.load_state_dict(model.state_dict())
        replicas.append(copy)
    return replicas


def simulate_replicas(n: int = 2, steps: int = 5, sync: Callable[[list[nn.Module]], None] | None = None,
                      batch: int = 8, lr: float = 0.5, seed: int = 0) -> dict:
    """Round-robin batches over n replicas in one process (no torchrun): at step t replica r trains on
    batch t*n + r; `sync(replicas)` (e.g. a gradient average) runs between backward and step. Returns
    the replicas, the largest parameter distance to replica 0 after each step, and one model trained
    on the n batches concatenated (the all-reduce's target)."""
    gen = torch.Generator().manual_seed(seed + 1)
    X = torch.randn(steps * n * batch, 4, 4, generator=gen)  # (images, H, W): tiny fake images
    y = torch.randint(0, 3, (steps * n * batch,), generator=gen)
    replicas = tiny_replicas(n, seed)
    single = tiny_replicas(1, seed)[0]
    opts = [torch.optim.SGD(m.parameters(), lr=lr) for m in replicas]
    single_opt = torch.optim.SGD(single.parameters(), lr=lr)
    distance = []
    for step in range(steps):
        for rank, (model, opt) in enumerate(zip(replicas, opts)):
            Xb, yb = rank_batch(X, y, step, rank, n, batch)
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(Xb), yb).backward()
        if sync is not None:
            sync(replicas)
        for opt in opts:
            opt.step()
        rows = slice(step * n * batch, (step + 1) * n * batch)  # the n batches of this step, concatenated
        single_opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(single(X[rows]), y[rows]).backward()
        single_opt.step()
        vectors = [param_vector(m) for m in replicas]
        distance.append(max((v - vectors[0]).norm().item() for v in vectors))
    return {"replicas": replicas, "distance": distance, "single": single,
            "vs_single": (param_vector(replicas[0]) - param_vector(single)).abs().max().item()}


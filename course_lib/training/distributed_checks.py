"""What the data-parallel lesson measures, run inside torchrun (`-m course_lib.parallel grads|bench`):

- `grads`: every rank's own gradient on its B images, the gradient DDP leaves after all-reducing them,
  and the weights after one SGD step, for the course model with BatchNorm swapped out or kept. The
  single-process side (`compare`) recomputes the same step on all N*B images in an ordinary process.
- `bench`: training throughput of 1 process (N threads, or 1 GPU) vs N processes (DDP), one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from ..config import TrainConfig
from ..data import get_spec, is_fast_mode, load_tensors, normalize
from ..errors import DataError, unknown_name
from ..models import build_model, count_parameters
from .checkpoint import load_checkpoint, save_checkpoint
from .device import cpu_name, seed_everything
from .step import train_step

NORMS = ("none", "batchnorm", "groupnorm")


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of `grads` or `bench` (on top of TrainConfig's)."""
    if command == "grads":
        parser.add_argument("--out", required=True, help="file for the gathered gradients (rank 0 writes)")
        parser.add_argument("--norms", default=",".join(NORMS), help=f"comma list of {', '.join(NORMS)}")
        parser.set_defaults(batch_size=32, lr=0.1)  # B images per rank
    else:
        fast = is_fast_mode()
        parser.add_argument("--out", default="", help="JSON file for the results (rank 0 writes)")
        parser.add_argument("--steps", type=int, default=4 if fast else 30, help="timed steps per setup")
        parser.add_argument("--repeats", type=int, default=1 if fast else 3, help="interleaved repeats (median)")
        parser.add_argument("--global-batch", type=int, default=256, help="images per step, all processes")


def with_norm(model: nn.Module, norm: str) -> nn.Module:
    """`model` with every BatchNorm2d replaced: none -> Identity, groupnorm -> GroupNorm(1, C)
    (statistics of each image alone), batchnorm -> kept (statistics of the whole local batch)."""
    if norm not in NORMS:
        raise unknown_name("norm", norm, NORMS)
    if norm == "batchnorm":
        return model
    for name, child in model.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(model, name, nn.Identity() if norm == "none" else nn.GroupNorm(1, child.num_features))
        else:
            with_norm(child, norm)
    return model


def fixed_batch(config: TrainConfig, n_images: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n_images training images chosen by config.seed: (X normalized, y, their indices)."""
    images, labels = load_tensors(config.dataset, True, config.data_root or None)
    if n_images > len(labels):
        raise DataError(f"{n_images} images asked for (processes x --batch-size) but the training set "
                        f"has {len(labels)}: use fewer processes or a smaller --batch-size.")
    idx = torch.randperm(len(labels), generator=torch.Generator().manual_seed(config.seed))[:n_images]
    return normalize(images[idx], get_spec(config.dataset)), labels[idx], idx


def _grad_vector(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).detach()


def _param_vector(model: nn.Module) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def gradient(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """dLoss/dW of the mean cross-entropy over (X, y), flattened to one vector (no update)."""
    model.train()
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(X), y).backward()  # mean over the batch
    return _grad_vector(model).clone()


def one_step(model: nn.Module, X: torch.Tensor, y: torch.Tensor, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One plain SGD step on (X, y): (the gradient, the weights after the step) as flat vectors."""
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss = nn.functional.cross_entropy(model(X), y)  # mean over the batch
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad = _grad_vector(model).clone()
    opt.step()
    return grad, _param_vector(model)


def _gather(vector: torch.Tensor, world_size: int) -> torch.Tensor:
    rows = [torch.empty_like(vector) for _ in range(world_size)]
    dist.all_gather(rows, vector.contiguous())
    return torch.stack(rows).cpu()  # (world_size, P)


def grads_command(config: TrainConfig, ctx, args) -> None:
    """Each rank: its own gradient, DDP's averaged gradient, the weights after one step; rank 0 saves all."""
    n = ctx.world_size * config.batch_size
    X, y, idx = fixed_batch(config, n)
    mine = slice(ctx.rank, None, ctx.world_size)  # DistributedSampler's rule: positions r, r+N, r+2N, ...
    X, y = X[mine].to(ctx.device), y[mine].to(ctx.device)  # (N*B, C, H, W) -> (B, C, H, W)
    record = {"world_size": ctx.world_size, "batch_per_rank": config.batch_size, "indices": idx,
              "config": asdict(config), "lr": config.lr, "norms": {}}
    for norm in args.norms.split(","):
        seed_everything(config.seed)
        model = with_norm(build_model(config.dataset, config.head, config.backbone or None), norm).to(ctx.device)
        before = _param_vector(model)
        local = gradient(model, X, y)  # what this rank alone computes: the plain module, no communication
        model.zero_grad(set_to_none=True)
        # the same step through DDP: backward now all-reduces (averages) the gradients over the ranks
        ddp = DDP(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        opt = torch.optim.SGD(ddp.parameters(), lr=config.lr)
        loss = nn.functional.cross_entropy(ddp(X), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        averaged = _grad_vector(model).clone()
        opt.step()
        record["norms"][norm] = {"before": before.cpu(), "local": _gather(local, ctx.world_size),
                                 "ddp": _gather(averaged, ctx.world_size),
                                 "after": _gather(_param_vector(model), ctx.world_size)}
        del ddp
    if ctx.is_main:
        save_checkpoint(args.out, record)
        ctx.log(f"gradients of {ctx.world_size} ranks x {config.batch_size} images, norms "
                f"{args.norms} -> {args.out}")


def single_process_step(record: dict, norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The same step in this one process on all N*B images: (gradient, weights after)."""
    config = TrainConfig(**record["config"])
    X, y, idx = fixed_batch(config, record["world_size"] * record["batch_per_rank"])
    assert torch.equal(idx, record["indices"]), "the data changed since the distributed run"
    seed_everything(config.seed)
    model = with_norm(build_model(config.dataset, config.head, config.backbone or None), norm)
    return one_step(model, X, y, record["lr"])


def compare(path: str | Path) -> list[dict]:
    """One row per norm: N processes x B (DDP) vs 1 process x N*B, as max absolute differences."""
    record = load_checkpoint(path)
    rows = []
    for norm, r in record["norms"].items():
        grad, after = single_process_step(record, norm)
        rows.append({
            "norm": norm,
            "local_spread": (r["local"] - r["local"][0]).abs().max().item(),  # ranks' own grads differ
            "ddp_vs_mean_local": (r["ddp"] - r["local"].mean(0)).abs().max().item(),  # all-reduce = mean
            "ranks_identical": bool((r["ddp"] == r["ddp"][0]).all() and (r["after"] == r["after"][0]).all()),
            "grad_vs_single": (r["ddp"] - grad).abs().max().item(),
            "grad_scale": grad.abs().max().item(),
            "weights_vs_single": (r["after"] - after).abs().max().item(),
        })
    return rows


def compare_table(rows: list[dict]) -> str:
    """`compare`'s rows as an aligned text table."""
    head = ("norm", "ranks' own grads differ by", "DDP grad - mean(own)", "ranks identical",
            "DDP grad - 1 process", "max |grad|", "weights - 1 process")
    body = [(r["norm"], f"{r['local_spread']:.2e}", f"{r['ddp_vs_mean_local']:.2e}", str(r["ranks_identical"]),
             f"{r['grad_vs_single']:.2e}", f"{r['grad_scale']:.2e}", f"{r['weights_vs_single']:.2e}")
            for r in rows]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in [head, *body])


# ----------------------------------------------------------------------------- throughput


def _timed(model: nn.Module, X, y, steps: int, device: torch.device, warmup: int = 2) -> float:
    """Seconds for `steps` training steps on the batch (X, y), after `warmup` untimed ones."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        train_step(model, (X, y), loss_fn, opt, device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_throughput(config: TrainConfig, ctx, steps: int, global_batch: int, repeats: int) -> list[dict]:
    """Images/s of 1 process (rank 0 alone; the others wait) vs all ranks under DDP, interleaved."""
    if global_batch % ctx.world_size:
        raise DataError(f"--global-batch {global_batch} is not a multiple of {ctx.world_size} processes")
    spec = get_spec(config.dataset)
    gen = torch.Generator().manual_seed(config.seed)
    X = torch.randn(global_batch, *spec.input_shape, generator=gen)  # pixel values do not change speed
    y = torch.randint(0, spec.num_classes, (global_batch,), generator=gen)
    cpu = ctx.device.type == "cpu"
    n = ctx.world_size
    setups = ([(1, 1), (1, n)] if cpu else [(1, 1)]) + [(n, 1)]  # (processes, threads per process)
    seconds: dict[tuple[int, int], list[float]] = {s: [] for s in setups}
    for _ in range(repeats):
        for procs, threads in setups:
            dist.barrier()
            elapsed = torch.zeros((), dtype=torch.float64, device=ctx.device)
            if procs == 1 and ctx.is_main:  # one process with the whole batch; the others sleep in the barrier
                torch.set_num_threads(threads)
                seed_everything(config.seed)
                model = build_model(config.dataset, config.head, config.backbone or None).to(ctx.device)
                elapsed += _timed(model, X.to(ctx.device), y.to(ctx.device), steps, ctx.device)
            elif procs == n:
                if cpu:
                    torch.set_num_threads(1)  # N processes x 1 thread: one core each
                seed_everything(config.seed)
                model = build_model(config.dataset, config.head, config.backbone or None).to(ctx.device)
                ddp = DDP(model, device_ids=[ctx.device.index] if not cpu else None)
                mine = slice(ctx.rank, None, n)
                elapsed += _timed(ddp, X[mine].to(ctx.device), y[mine].to(ctx.device), steps, ctx.device)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)  # a DDP step is as slow as its slowest rank
            seconds[(procs, threads)].append(elapsed.item())
    torch.set_num_threads(1)
    rows = []
    for procs, threads in setups:
        med = statistics.median(seconds[(procs, threads)])
        if cpu:
            label = f"{procs} process{'es' if procs > 1 else ''} x {threads} thread{'s' if threads > 1 else ''}"
        else:
            label = f"{procs} process{'es' if procs > 1 else ''} x 1 GPU each"
        label += " (DDP, %s)" % ctx.backend if procs > 1 else ""
        rows.append({"setup": label, "processes": procs, "threads_per_process": threads if cpu else None,
                     "batch_per_process": global_batch // procs, "images_per_s": steps * global_batch / med,
                     "seconds": seconds[(procs, threads)]})
    base = rows[0]["images_per_s"]
    for r in rows:
        r["speedup_vs_first"] = r["images_per_s"] / base
    return rows


def throughput_table(result: dict) -> str:
    """The bench result as a markdown table with its evidence line."""
    lines = [f"{result['environment']}; {result['model']}; global batch {result['global_batch']}, "
             f"{result['steps']} steps, median of {result['repeats']}",
             "| setup | batch per process | images/s | speed-up |", "|---|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['setup']} | {r['batch_per_process']} | {r['images_per_s']:.0f} | "
                     f"x{r['speedup_vs_first']:.2f} |")
    return "\n".join(lines)


def bench_command(config: TrainConfig, ctx, args) -> dict | None:
    """Measure, then rank 0 prints the table and writes the JSON (`--out`)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")  # other work on the machine
    rows = measure_throughput(config, ctx, args.steps, args.global_batch, args.repeats)
    if not ctx.is_main:
        return None
    device = torch.cuda.get_device_name(ctx.device) if ctx.device.type == "cuda" else (
        f"{cpu_name()}, {os.cpu_count()} CPU cores")
    model = build_model(config.dataset, config.head, config.backbone or None)
    result = {"environment": f"torch {torch.__version__}, {device}, load average {load:.2f} before the run",
              "date": time.strftime("%Y-%m-%d %H:%M"), "world_size": ctx.world_size, "backend": ctx.backend,
              "model": f"{config.dataset} {config.backbone or 'default'}/{config.head} "
                       f"({count_parameters(model):,} parameters)",
              "global_batch": args.global_batch, "steps": args.steps, "repeats": args.repeats, "rows": rows}
    print(throughput_table(result), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result

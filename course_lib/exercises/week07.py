"""Week 7 exercises: many devices. Answers are computed when checked: by PyTorch's own
DistributedSampler and DataLoader, by course_lib's ShardedLoader, or by running replicas in one process."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from ..data import InMemoryLoader, get_spec
from ..training.distributed import ShardedLoader
from ..training.distributed_roundrobin import simulate_replicas
from .core import Exercise, Verdict, expect_choice, expect_number, register, right, unanswered, wrong

# ---------------------------------------------------------------- predict: the global batch


def images_per_step(world_size: int, batch_size: int) -> int:
    """Images in one optimizer step over all ranks: the ranks' first batches of ShardedLoader, counted."""
    n = 4 * world_size * batch_size
    images, labels = torch.zeros(n, 28, 28, dtype=torch.uint8), torch.zeros(n, dtype=torch.long)
    base = InMemoryLoader(images, labels, get_spec("mnist"), batch_size, shuffle=True)
    return sum(len(next(iter(ShardedLoader(base, rank, world_size)))[1]) for rank in range(world_size))


register(Exercise(
    "week07/global-batch", "predict", "Images per optimizer step with 4 processes",
    expect_number(lambda: images_per_step(4, 32),
                  why=lambda v: "N processes x B images: the all-reduced gradient is the mean over all of them."),
    hints=("`--batch-size` is per process.", "Every process takes its own B images at every step."),
    solution="4 processes x 32 images = 128 images per step (the global batch).",
    reference=128, typical_mistakes=(32, 8),
    explanation="Each process computes the mean gradient of its own 32 images; the all-reduce averages the 4 "
                "means, which is the mean gradient of all 128 images."))


# ---------------------------------------------------------------- predict: steps per epoch per rank


def steps_per_epoch(num_samples: int, world_size: int, batch_size: int) -> int:
    """len() of one rank's DataLoader with PyTorch's DistributedSampler."""
    sampler = DistributedSampler(range(num_samples), num_replicas=world_size, rank=0, shuffle=True)
    return len(DataLoader(range(num_samples), batch_size=batch_size, sampler=sampler))


register(Exercise(
    "week07/steps-per-epoch", "predict", "Steps per epoch per rank: 60,000 images, 3 processes, batch 64",
    expect_number(lambda: steps_per_epoch(60_000, 3, 64),
                  why=lambda v: "each rank gets ceil(60,000 / 3) = 20,000 images, in batches of 64 "
                                "(the last one smaller)."),
    hints=("First: how many images does one rank get per epoch?", "Then: how many batches of 64 is that? "
           "A last, smaller batch still counts."),
    solution="ceil(60,000 / 3) = 20,000 images per rank; ceil(20,000 / 64) = 313 steps.",
    reference=313, typical_mistakes=(938, 312, 20_000),
    explanation="Each rank sees only its shard: N times fewer steps than one process with the same "
                "--batch-size, each step with N times more images in total."))


# ---------------------------------------------------------------- the all-reduce by hand (the fill-in's solution)


def average_gradients(replicas: list[nn.Module]) -> None:
    for params in zip(*(m.parameters() for m in replicas)):  # the same parameter in every replica
        mean = torch.stack([p.grad for p in params]).mean(dim=0)  # sum over replicas / N
        for p in params:
            p.grad = mean.clone()


# ---------------------------------------------------------------- predict: replicas with the all-reduce

ALLREDUCE_CHOICES = {
    "a": "exactly 0: the replicas stay bit-identical",
    "b": "tiny but not 0 (about 1e-8): float32 rounding accumulates",
    "c": "growing, as far apart as replicas that never communicate",
}


def replicas_distance_with_average() -> str:
    """Run 2 replicas in one process for 5 round-robin steps with averaged gradients: which choice happened."""
    synced = simulate_replicas(n=2, steps=5, sync=average_gradients)["distance"][-1]
    alone = simulate_replicas(n=2, steps=5, sync=None)["distance"][-1]
    if synced == 0:
        return "a"
    return "b" if synced < 1e-3 * alone else "c"


register(Exercise(
    "week07/allreduce-distance", "predict", "How far apart are replicas that average their gradients?",
    expect_choice(replicas_distance_with_average, ALLREDUCE_CHOICES),
    hints=("After the all-reduce, what does every replica hold?", "Same weights + the very same gradient "
           "tensor + the same SGD step = ?"),
    solution="(a): every replica applies the same averaged gradient to the same weights, so the results are "
             "bit-identical at every step (the roundrobin run's distance is 0.0, not 1e-8).",
    reference="a", typical_mistakes=("b", "c"),
    explanation="Rounding makes a result differ from the exact value, but the same operations on the same "
                "numbers round the same way: identical inputs give identical outputs."))


# ---------------------------------------------------------------- fill in: the all-reduce by hand


def _check_average(fn) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function, got {type(fn).__name__}")
    for n in (2, 3):
        run = simulate_replicas(n=n, steps=4, sync=fn)
        if run["distance"][-1] != 0:
            return wrong(f"with {n} replicas, after 4 steps their weights are {run['distance'][-1]:.3g} apart "
                         "(L2): every replica must end up with the same gradient.")
        if run["vs_single"] > 1e-5:
            return wrong(f"with {n} replicas they stay equal to each other, but differ by {run['vs_single']:.3g} "
                         f"from one model trained on the {n} batches together: the mean is the sum / N.")
    return right("2 and 3 replicas stay bit-identical and equal one model trained on all their batches "
                 "together (to float32 rounding): that is what DDP's all-reduce gives.")


def _sum_only(replicas):
    for params in zip(*(m.parameters() for m in replicas)):
        total = torch.stack([p.grad for p in params]).sum(dim=0)
        for p in params:
            p.grad = total.clone()


def _first_replica_only(replicas):
    for params in zip(*(m.parameters() for m in replicas)):
        params[0].grad = torch.stack([p.grad for p in params]).mean(dim=0)


def _stub_average(replicas):
    raise NotImplementedError


register(Exercise(
    "week07/average-gradients", "fill in", "The all-reduce by hand: average the replicas' gradients",
    _check_average,
    hints=("`zip(*(m.parameters() for m in replicas))` gives the same parameter of every replica together.",
           "Stack their `.grad`, take the mean over dim 0, and give every replica that mean.",
           "Give each replica its own copy (`.clone()`), so one optimizer step cannot change another's."),
    solution=average_gradients, typical_mistakes=(_sum_only, _first_replica_only),
    explanation="`dist.all_reduce(p.grad)` sums each gradient over the processes, in place on every one; "
                "dividing by N makes it the mean. DDP does the same, bucket by bucket, during backward."))


# ---------------------------------------------------------------- fill in: DistributedSampler's rule


def shard(n: int, rank: int, world_size: int) -> list[int]:
    per_rank = -(-n // world_size)  # ceil(n / N)
    order = list(range(n))
    order += order[:per_rank * world_size - n]  # pad by repeating the start
    return order[rank::world_size]  # positions r, r+N, r+2N, ...


CASES = ((10, 4), (7, 2), (8, 4), (5, 3), (3, 1))


def _check_shard(fn) -> Verdict:
    if not callable(fn):
        return wrong(f"expected a function, got {type(fn).__name__}")
    for n, world in CASES:
        for rank in range(world):
            expected = list(DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            got = fn(n, rank, world)
            if got is None:
                return unanswered("your function returned None: fill in its body.")
            got = [int(i) for i in got]
            if got != expected:
                return wrong(f"{n} images, {world} processes, rank {rank}: you give {got}; PyTorch's "
                             f"DistributedSampler gives {len(expected)} images in another order or set.")
    return right(f"identical to DistributedSampler(shuffle=False) for every rank of {len(CASES)} settings.")


register(Exercise(
    "week07/shard-rule", "fill in", "Which images does rank r get? (DistributedSampler, no shuffle)",
    _check_shard,
    hints=("Every rank gets the same number of images: ceil(n / N). Pad the order by repeating its start.",
           "Then rank r takes positions r, r+N, r+2N, ... of the padded order (a slice with step N)."),
    solution=shard, typical_mistakes=(lambda n, r, w: list(range(r, n, w)),  # no padding
                                      lambda n, r, w: list(range(n))[r * -(-n // w):(r + 1) * -(-n // w)]),
    explanation="Equal shards keep the ranks in step (an all-reduce waits for all of them) and make the "
                "mean of the N means the mean over all images; interleaving spreads any ordering evenly."))


# ---------------------------------------------------------------- break it: forget set_epoch

SET_EPOCH_CHOICES = {
    "a": "a new order every epoch, as with set_epoch",
    "b": "the same order every epoch",
    "c": "the two ranks get overlapping images",
    "d": "an error",
}


def epochs_without_set_epoch(n: int = 12, world_size: int = 2, epochs: int = 3) -> dict:
    """Rank by rank, the order DistributedSampler(shuffle=True) gives in each epoch when nobody calls
    set_epoch: {"orders": {rank: [order of epoch 0, 1, ...]}, "observed": choice letter}."""
    orders = {}
    for rank in range(world_size):
        sampler = DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=True, seed=0)
        orders[rank] = [list(sampler) for _ in range(epochs)]  # for epoch in ...: no sampler.set_epoch(epoch)
    same = all(o == run[0] for run in orders.values() for o in run)
    overlap = any(set(orders[0][e]) & set(orders[r][e]) for r in range(1, world_size) for e in range(epochs))
    return {"orders": orders, "observed": "c" if overlap else ("b" if same else "a")}


register(Exercise(
    "week07/forget-set-epoch", "break it", "Forget sampler.set_epoch(epoch): what happens?",
    expect_choice(lambda: epochs_without_set_epoch()["observed"], SET_EPOCH_CHOICES),
    hints=("DistributedSampler shuffles with a generator seeded by seed + epoch.",
           "Who changes the sampler's epoch, if your loop does not?"),
    solution="(b): the permutation is seeded by (seed, epoch) and the epoch stays 0, so every epoch repeats "
             "the first one's order on every rank (the shards still do not overlap).",
    reference="b", typical_mistakes=("a", "c", "d"),
    explanation="Training then sees the batches in one fixed order every epoch: no error, only a weaker "
                "shuffle. `train_ddp` calls set_epoch(epoch) at the start of each epoch."))

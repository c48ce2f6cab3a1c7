"""Week 6's comparisons of heads: the GAP twins trained side by side, the time per training step of
each head (repeated, with its spread), and the sentences that read the results table.

gap_fc (GAP -> Linear) and conv1x1_gap (1x1 conv -> GAP) compute the same function when they share
weights. `train_twins` starts both from identical weights and trains them on identical batches: any
difference that appears is rounding (the two heads add and multiply in a different order), amplified by
training.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from ..data import get_loaders, is_fast_mode
from ..models import build_model, share_fc_weights
from ..repeated_timing import Timing, measure
from .device import seed_everything
from .evaluate import predict
from .recipes import default_config
from .schedule import make_optimizer
from .step import train_step

TWINS = ("gap_fc", "conv1x1_gap")
GAP_HEADS = ("gap_fc", "conv1x1_gap")


@dataclass
class TwinRun:
    """gap_fc and conv1x1_gap trained side by side from the same weights on the same batches."""

    dtype: str  # float32 | float64 (bf16 autocast off: the arithmetic is exactly this type)
    steps: int
    init_identical: bool  # the same seed gave the same backbone and head weights (before any copy)
    init_logit_diff: float  # max |logits gap_fc - logits conv1x1_gap| on the test images, before training
    weight_diff: list[float] = field(default_factory=list)  # max |W_gap_fc - W_conv1x1_gap| after each step
    logit_diff: float = 0.0  # the same on the test images after training
    logit_scale: float = 0.0  # max |logit|, for scale
    accuracy: tuple[float, float] = (0.0, 0.0)  # test accuracy of gap_fc, conv1x1_gap
    logits: tuple[torch.Tensor, torch.Tensor] | None = None


def _twin_vector(model: nn.Module) -> torch.Tensor:
    """All weights of a GAP-head model as one vector, the head's (K,C,1,1) conv read as a (K,C) Linear."""
    parts = [p.reshape(-1) for p in model.backbone.parameters()]
    head = model.head
    weight = head.fc.weight if hasattr(head, "fc") else head.conv.weight.flatten(1)  # (K,C,1,1) -> (K,C)
    bias = head.fc.bias if hasattr(head, "fc") else head.conv.bias
    return torch.cat([*parts, weight.reshape(-1), bias]).detach()


def train_twins(dataset: str = "mnist", dtype: torch.dtype = torch.float64, train_size: int = 4096,
                epochs: int = 1, seed: int = 0, share: bool = True, root: str | None = None,
                schedule: str = "constant") -> TwinRun:
    """Train gap_fc and conv1x1_gap on identical batches from identical weights (`share`: also copy
    gap_fc's Linear into the 1x1 conv with `heads.share_fc_weights`, which the seed already made equal).
    The recipe's SGD at a constant learning rate (it learns faster in few steps), no bf16, no augmentation."""
    config = default_config(dataset, epochs=epochs, bf16=False, augment=False, seed=seed, schedule=schedule)
    train_loader, test_loader = get_loaders(dataset, config.batch_size, fast=is_fast_mode(), seed=seed,
                                            train_size=train_size, root=root)
    models = []
    for head in TWINS:
        seed_everything(seed)  # the same seed before building each model
        models.append(build_model(dataset, head).to(dtype))
    init_identical = torch.equal(_twin_vector(models[0]), _twin_vector(models[1]))
    if share:
        share_fc_weights(models[0].head, models[1].head)  # (K,C) -> (K,C,1,1)
    cpu = torch.device("cpu")
    X_test = torch.cat([X for X, _ in test_loader]).to(dtype)
    y_test = torch.cat([y for _, y in test_loader])
    test = [(X_test, y_test)]
    before = [predict(m, test, cpu)[0] for m in models]
    run = TwinRun(str(dtype).replace("torch.", ""), 0, init_identical, (before[0] - before[1]).abs().max().item())
    loss_fn = nn.CrossEntropyLoss()
    optimizers = [make_optimizer(m, config, len(train_loader)) for m in models]
    for epoch in range(epochs):
        train_loader.set_epoch(epoch)  # the same batches, in the same order, for both models
        for X, y in train_loader:
            for model, (opt, sched) in zip(models, optimizers):
                train_step(model, (X.to(dtype), y), loss_fn, opt, cpu)
                sched.step()
            run.weight_diff.append((_twin_vector(models[0]) - _twin_vector(models[1])).abs().max().item())
    after = [predict(m, test, cpu)[0] for m in models]
    run.steps = len(run.weight_diff)
    run.logits = (after[0], after[1])
    run.logit_diff = (after[0] - after[1]).abs().max().item()
    run.logit_scale = after[0].abs().max().item()
    run.accuracy = tuple((logits.argmax(1) == y_test).double().mean().item() for logits in after)
    return run


def time_heads(dataset: str = "mnist", heads: Sequence[str] = ("gap_fc", "conv1x1_gap", "flatten_fc",
               "conv1x1_flatten_fc"), repeats: int = 5, min_seconds: float = 1.0) -> list[Timing]:
    """Training images per second of each head's model (the dataset's recipe: batch size, bf16), timed
    interleaved, `repeats` repeats of >= `min_seconds` each, on one fixed batch of random images."""
    config = default_config(dataset)
    cpu = torch.device("cpu")
    steps = {}
    for head in heads:
        seed_everything(config.seed)
        model = build_model(dataset, head)
        X = torch.randn(config.batch_size, *model.input_shape)  # pixel values do not change the speed
        y = torch.randint(0, model.head.num_classes, (config.batch_size,))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[head] = (lambda m=model, o=opt, b=(X, y):
                       train_step(m, b, nn.functional.cross_entropy, o, cpu, config.bf16))
    return measure(steps, work_per_call=config.batch_size, repeats=repeats, min_seconds=min_seconds)


def reading_lines(rows: Sequence[dict]) -> list[str]:
    """Sentences read from the results table (rows with dataset, head, head params, test acc):
    which kind of head leads on each dataset and by how much, and how far the two GAP heads are apart."""
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["head"]: r for r in rows if r["dataset"] == dataset}
        gap = max((mine[h] for h in GAP_HEADS if h in mine), key=lambda r: r["test acc"], default=None)
        flat = max((r for h, r in mine.items() if h not in GAP_HEADS), key=lambda r: r["test acc"], default=None)
        if gap is None or flat is None:
            continue
        lead = 100 * (flat["test acc"] - gap["test acc"])
        leader, other = (flat, gap) if lead >= 0 else (gap, flat)
        kind = "flatten" if lead >= 0 else "GAP"
        text = (f"{dataset}: the {kind} heads lead; the best, {leader['head']} ({leader['test acc']:.2%}), is "
                f"{abs(lead):.2f} points ahead of the best of the others, {other['head']} ({other['test acc']:.2%})")
        if all(h in mine for h in GAP_HEADS):
            twin_gap = 100 * (mine["gap_fc"]["test acc"] - mine["conv1x1_gap"]["test acc"])
            text += (f"; gap_fc and conv1x1_gap are {abs(twin_gap):.2f} points apart "
                     f"({mine['gap_fc']['test acc']:.2%} vs {mine['conv1x1_gap']['test acc']:.2%})")
        if "flatten_fc" in mine and "gap_fc" in mine:
            ratio = mine["flatten_fc"]["head params"] / mine["gap_fc"]["head params"]
            text += f"; flatten_fc's head has {ratio:.0f}x the parameters of gap_fc's"
        lines.append(text + ".")
    return lines

"""Throughput: fit() vs a bare hand-written loop; models' images/s by precision and layout; torch.compile."""
from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from course_lib import data
from course_lib.config import TrainConfig
from course_lib.models import build_model
from course_lib.training import fit, get_device, make_optimizer, seed_everything


def _bare_loop(model, loader, config: TrainConfig) -> float:
    """The shortest honest training loop on the same model, data, optimizer and schedule; returns seconds."""
    device = get_device()
    model.to(device).train()
    opt, sched = make_optimizer(model, config, len(loader))  # the optimizer and schedule fit() uses
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(config.epochs):
        for X, y in loader:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                out = model(X)
            loss = loss_fn(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return time.perf_counter() - start


def fit_overhead(repeats: int = 3, train_size: int = 20000) -> dict:
    """Images/s of fit() (training time only) vs the bare loop, interleaved to share the noise."""
    config = TrainConfig(dataset="mnist", epochs=1, bf16=True)
    train_loader, test_loader = data.get_loaders("mnist", config.batch_size, fast=False, train_size=train_size)
    fit_s, bare_s = [], []
    for r in range(repeats):
        seed_everything(r)
        history = fit(build_model("mnist"), train_loader, test_loader, config, progress=False)
        fit_s.append(sum(history.seconds))
        seed_everything(r)
        bare_s.append(_bare_loop(build_model("mnist"), train_loader, config))
    n = train_loader.num_samples
    fit_ips, bare_ips = n / statistics.median(fit_s), n / statistics.median(bare_s)
    return {"fit_images_per_s": fit_ips, "bare_images_per_s": bare_ips, "ratio": fit_ips / bare_ips,
            "fit_seconds": fit_s, "bare_seconds": bare_s}


def _train_steps_per_s(model, x, y, bf16: bool, steps: int) -> float:
    """Median training steps/s of `model` on one fixed batch (2 warm-up steps not timed)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        loss = nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - start)
    return 1.0 / statistics.median(times)


def _synthetic_batch(dataset: str, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and labels of `dataset`'s shape and classes, on the default device."""
    device = get_device()
    spec = data.get_spec(dataset)
    X = torch.randn(batch_size, *spec.input_shape, device=device)
    return X, torch.randint(0, spec.num_classes, (batch_size,), device=device)


def model_throughput(dataset: str = "cifar10", steps: int = 10, batch_size: int = 256) -> list[dict]:
    """Training images/s of `dataset`'s default model on synthetic tensors of its shape, for
    fp32/bf16 x contiguous/channels_last (the same batch for every setup)."""
    X, y = _synthetic_batch(dataset, batch_size)
    rows = []
    for bf16 in (False, True):
        for channels_last in (False, True):
            torch.manual_seed(0)
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            model = build_model(dataset).to(X.device).to(memory_format=fmt)
            steps_per_s = _train_steps_per_s(model, X.contiguous(memory_format=fmt), y, bf16, steps)
            rows.append({"dataset": dataset, "precision": "bf16" if bf16 else "fp32",
                         "channels_last": channels_last, "images_per_s": batch_size * steps_per_s})
    return rows


def compile_payoff(dataset: str = "mnist", steps: int = 30, batch_size: int = 128) -> dict:
    """torch.compile on the default model (bf16): cold compile time vs the images/s it gains."""
    X, y = _synthetic_batch(dataset, batch_size)
    torch.manual_seed(0)
    eager = _train_steps_per_s(build_model(dataset).to(X.device), X, y, True, steps) * batch_size
    torch.manual_seed(0)
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()
    compiled_model = torch.compile(build_model(dataset).to(X.device))
    with inductor_config.patch(force_disable_caches=True):  # a cold compile, as in a learner's first run
        start = time.perf_counter()
        _train_steps_per_s(compiled_model, X, y, True, 1)  # the first steps compile (forward + backward)
        compile_s = time.perf_counter() - start
    compiled = _train_steps_per_s(compiled_model, X, y, True, steps) * batch_size
    n_train = 60_000  # break-even counted in epochs of 60,000 images (MNIST's training set)
    return {"dataset": dataset, "eager_images_per_s": eager, "compiled_images_per_s": compiled,
            "compile_seconds": compile_s,
            "break_even_epochs": compile_s / max(n_train / eager - n_train / compiled, 1e-9)
            if compiled > eager else None}

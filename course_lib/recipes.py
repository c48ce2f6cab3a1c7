"""Ready-made runs: each dataset's default config (its DatasetSpec's recipe) and `run_training(config)` that wires
data + model + fit together (used by the CLI, the lessons and the benchmarks)."""
from __future__ import annotations

import platform
import time
from pathlib import Path

import torch

from .config import TrainConfig
from .data import get_loaders, get_spec, is_fast_mode
from .models import ImageClassifier, build_model, count_parameters
from .train import History, fit, seed_everything

def default_config(dataset: str = "mnist", **overrides) -> TrainConfig:
    """The tuned recipe of `dataset` (its DatasetSpec.recipe), with `overrides` applied."""
    return TrainConfig(dataset=dataset).replace(**get_spec(dataset).recipe).replace(**overrides)


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), with "AMX" when it has bf16 AMX units."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    name = names[0] if names else platform.machine()
    return f"{name} with AMX" if "amx_bf16" in info else name


def environment_line() -> str:
    """Hardware and software a result was measured on (every reported number carries it)."""
    cpu = cpu_name()
    threads = torch.get_num_threads()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"torch {torch.__version__}, {cpu}, {threads} CPU threads, {gpu}"


def run_training(config: TrainConfig, progress: bool = True) -> tuple[ImageClassifier, History]:
    """Print the config, build loaders and model from it, train, and return (model, history)."""
    if is_fast_mode() and config.epochs > 1:
        config = config.replace(epochs=1)
        print("COURSE_FAST=1: 1 epoch on a subset")
    print(f"config:\n{config.describe()}\n{environment_line()}")
    seed_everything(config.seed)
    train_loader, test_loader = get_loaders(
        config.dataset, config.batch_size, in_memory=config.in_memory, root=config.data_root or None,
        augment=config.augment, seed=config.seed, train_size=config.train_size or None)
    model = build_model(config.dataset, config.head, config.backbone or None)
    print(f"model: {count_parameters(model):,} parameters; "
          f"{len(train_loader)} batches of {config.batch_size} per epoch")
    start = time.perf_counter()
    history = fit(model, train_loader, test_loader, config, progress=progress)
    print(f"done in {time.perf_counter() - start:.1f} s; final test accuracy "
          f"{history.test_acc[-1]:.2%}" if len(history) else "nothing to do")
    return model, history

"""Ready-made runs: each data set's default config (its DatasetSpec's recipe) and `run_training(config)`,
which wires data + model + fit together (used by the command line, the lessons and the benchmarks)."""
from __future__ import annotations

import time

from ..config import TrainConfig
from ..data import get_loaders, get_spec, is_fast_mode
from ..models import ImageClassifier, build_model, count_parameters
from .device import environment_line, seed_everything
from .history import History
from .loop import fit


def default_config(dataset: str = "mnist", **overrides) -> TrainConfig:
    """The tuned recipe of `dataset` (its DatasetSpec.recipe), with `overrides` applied."""
    return TrainConfig(dataset=dataset).replace(**get_spec(dataset).recipe).replace(**overrides)


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

"""Ready-made runs: each data set's default config (its DatasetSpec's recipe), the command-line reading of
a config, and `run_training(config)`, which wires data + model + fit together for one process or DDP
(used by `python -m course_lib train`, `torchrun ... -m course_lib.parallel`, the lessons and benchmarks)."""
from __future__ import annotations

import argparse
import time

from ..config import TrainConfig, given_fields
from ..data import DATASETS, get_loaders, get_spec, is_fast_mode
from ..models import ImageClassifier, build_model, count_parameters
from .device import environment_line, get_device, seed_everything
from .history import History
from .loop import SingleProcess, fit


def default_config(dataset: str = "mnist", **overrides) -> TrainConfig:
    """The tuned recipe of `dataset` (its DatasetSpec.recipe), with `overrides` applied."""
    return TrainConfig(dataset=dataset).replace(**get_spec(dataset).recipe).replace(**overrides)


def config_from_args(args: argparse.Namespace, recipe: bool = True) -> TrainConfig:
    """The run a command line asks for: the data set's recipe (`recipe=False`: TrainConfig's defaults),
    then the flags given on top of it."""
    given = given_fields(args)
    dataset = given.get("dataset", TrainConfig.dataset)
    base = default_config(dataset) if recipe and dataset in DATASETS else TrainConfig(dataset=dataset)
    return base.replace(**given)  # an unknown data set fails with its clear error when the data is read


def run_training(config: TrainConfig, progress: bool = True,
                 world: SingleProcess | None = None) -> tuple[ImageClassifier, History]:
    """Print the config, build loaders and model from it, train, and return (model, history).

    `world` is the processes it runs in: one (default) or DDP's under torchrun (`distributed.train`)."""
    world = world or SingleProcess(get_device(config.device or None))
    if is_fast_mode() and config.epochs > 1:
        config = config.replace(epochs=1)
        world.log("COURSE_FAST=1: 1 epoch on a subset")
    if config.augment and config.clean_epochs >= config.epochs:  # say what runs: every epoch is a clean one
        world.log(f"augmentation off: all {config.epochs} epoch(s) are within clean_epochs={config.clean_epochs} "
                  "(the last epochs train on un-augmented images)")
        config = config.replace(augment=False, clean_epochs=0)
    world.log(f"config:\n{config.describe()}\n{environment_line()}")
    seed_everything(config.seed)  # the same initial weights in every process
    train_loader, test_loader = get_loaders(
        config.dataset, config.batch_size, in_memory=config.in_memory, root=config.data_root or None,
        augment=config.augment, seed=config.seed, train_size=config.train_size or None)
    n_train = len(train_loader.dataset) if hasattr(train_loader, "dataset") else train_loader.num_samples
    train_loader = world.shard(train_loader, config)  # DDP: this process's share of every epoch
    model = build_model(config.dataset, config.head, config.backbone or None)
    world.log(f"model: {count_parameters(model):,} parameters; {n_train} training images, {len(train_loader)} "
              f"batches per epoch of {config.batch_size}{world.batch_note(config.batch_size)}")
    start = time.perf_counter()
    history = fit(model, train_loader, test_loader, config, progress=progress, world=world)
    world.log(f"done in {time.perf_counter() - start:.1f} s; final test accuracy "
              f"{history.test_acc[-1]:.2%}" if len(history) else "nothing to do")
    return model, history

"""One visible dataclass of training defaults (nanoGPT/airbench style), overridable by keyword or CLI flag."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, fields
from typing import Any


@dataclass
class TrainConfig:
    """Every setting of a training run, with its default (a data set's recipe overrides some)."""

    dataset: str = "mnist"            # a name registered in course_lib.data.DATASETS
    head: str = "gap_fc"              # a name registered in course_lib.models.HEADS
    backbone: str = ""                # "" = the dataset's default backbone (its DatasetSpec.backbone)
    epochs: int = 1                   # passes over the training set (fast mode caps it at 1)
    batch_size: int = 128             # images per step
    lr: float = 0.05                  # peak learning rate of the OneCycle schedule
    momentum: float = 0.9             # SGD (Nesterov) momentum
    weight_decay: float = 5e-4        # L2 penalty on the weights
    label_smoothing: float = 0.0      # 0 = plain cross-entropy
    schedule: str = "onecycle"        # onecycle | constant
    cooldown: float = 0.0             # fraction of the run (at the end) held at OneCycle's final lr
    augment: bool = False             # random rotation + shift, strength per dataset (+ mirroring if it allows)
    clean_epochs: int = 0             # the last epochs train on un-augmented images (YOLO's close_mosaic)
    bf16: bool = False                # bf16 autocast (2-2.7x faster on CPUs with AMX)
    channels_last: bool = False       # NHWC memory layout (helps CIFAR-size nets)
    in_memory: bool = True            # whole dataset as one tensor (fast) vs DataLoader
    train_size: int = 0               # 0 = all training images, else a fixed random subset
    seed: int = 0                     # seeds weights, shuffling and dropout
    device: str = ""                  # "" = get_device(): cuda, then mps, then cpu
    checkpoint: str = ""              # path of the checkpoint file; "" = none
    resume: bool = True               # continue from `checkpoint` when it exists
    data_root: str = ""               # "" = $COURSE_DATA or ./data

    def replace(self, **overrides: Any) -> "TrainConfig":
        """A copy with some fields changed; unknown names raise a clear error."""
        valid = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - valid)
        if bad:
            raise TypeError(f"unknown TrainConfig field(s) {bad}; valid: {', '.join(sorted(valid))}")
        return dataclasses.replace(self, **overrides)

    def describe(self) -> str:
        """The config as aligned `name = value` lines, printed at the start of a run."""
        return "\n".join(f"  {f.name:<16} = {getattr(self, f.name)!r}" for f in fields(self))


def _str2bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per TrainConfig field (`--bf16 true`); flags not given are left out of the namespace,
    so the run can fall back to the data set's recipe (`course_lib.training.config_from_args`)."""
    for f in fields(TrainConfig):
        default = getattr(TrainConfig, f.name)
        kind = _str2bool if isinstance(default, bool) else type(default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=argparse.SUPPRESS,
                            help=f"(default: the data set's recipe, else {default!r})")


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields a parsed command line sets explicitly."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}

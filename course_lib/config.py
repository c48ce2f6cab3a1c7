"""One visible dataclass of training defaults (nanoGPT/airbench style), overridable by keyword or CLI flag."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError


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

    def __post_init__(self) -> None:
        check_config(self)  # the same ranges in a notebook, `course_lib train` and `course_lib.parallel`

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


# Each numeric field's allowed range: (low, high, low included, high included); NaN and inf are never allowed.
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "epochs": (0, 100_000, True, True), "batch_size": (1, 1 << 20, True, True), "lr": (0, 10, False, True),
    "momentum": (0, 1, True, False), "weight_decay": (0, 1, True, False), "label_smoothing": (0, 1, True, False),
    "cooldown": (0, 1, True, False), "clean_epochs": (0, 100_000, True, True),
    "train_size": (0, 1 << 40, True, True), "seed": (0, 2**63 - 1, True, True)}
SCHEDULES = ("onecycle", "constant")
DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")
# What may differ between a run and the checkpoint it resumes from: where things are, and the arithmetic's
# precision and memory layout. Every other field decides which images, steps and learning rates the run has.
RESUME_MAY_CHANGE = ("device", "checkpoint", "resume", "data_root", "bf16", "channels_last")


def _span(low: float, high: float, low_in: bool, high_in: bool) -> str:
    return f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"


def _has_type(value: Any, kind: type) -> bool:
    if kind is bool or isinstance(value, bool):  # True is an int to Python, not a batch size
        return kind is bool and isinstance(value, bool)
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def check_config(config: TrainConfig) -> None:
    """Raise ConfigError naming the first field whose type or value is out of its allowed range."""
    for f in fields(config):
        value, default = getattr(config, f.name), f.default
        kind = type(default)
        if not _has_type(value, kind):
            raise ConfigError(f"{f.name} has the wrong type ({f.name}={value!r}): give {_KINDS[kind]}, "
                              f"e.g. {default!r}")
        if f.name in RANGES:
            low, high, low_in, high_in = RANGES[f.name]
            inside = (math.isfinite(value) and (value >= low if low_in else value > low)
                      and (value <= high if high_in else value < high))
            if not inside:
                number = "a whole number" if kind is int else "a finite number"
                raise ConfigError(f"{f.name} out of range ({f.name}={value!r}): give {number} in "
                                  f"{_span(low, high, low_in, high_in)}{_HINTS.get(f.name, '')}")
    if config.schedule not in SCHEDULES:
        raise ConfigError(f"unknown schedule ({config.schedule!r}): use one of {', '.join(SCHEDULES)}")
    kind, colon, index = config.device.partition(":")
    if config.device and (kind not in DEVICE_TYPES or colon and not index.isdigit()):
        raise ConfigError(f"unknown device ({config.device!r}): use cpu, cuda, cuda:N or mps, or \"\" "
                          "for the best one present")


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
_HINTS = {"cooldown": " (the fraction of the run, at its end, held at the final lr)",
          "clean_epochs": " (the last epochs train without augmentation)",
          "train_size": " (0 = all training images)", "epochs": " (0 trains nothing)",
          "momentum": " (0 = plain SGD)", "label_smoothing": " (0 = plain cross-entropy)"}


def resume_differences(saved: dict[str, Any], config: TrainConfig) -> list[str]:
    """`name=saved, this run has name=value` for every field a resumed run must keep but `config` changes;
    a field missing from `saved` (a file from before it existed) counts as its default."""
    diffs = []
    for f in fields(config):
        if f.name in RESUME_MAY_CHANGE:
            continue
        old, new = saved.get(f.name, f.default), getattr(config, f.name)
        if old != new:
            diffs.append(f"{f.name}={old!r}, this run has {f.name}={new!r}")
    return diffs


# Data-parallel runs: seconds the rendezvous and every collective wait for a missing or dead process before
# giving up with one line ($COURSE_DDP_TIMEOUT or `--timeout` overrides it; tests make it a few seconds).
DEFAULT_TIMEOUT_S = 300.0


def timeout_from_env(default: float = DEFAULT_TIMEOUT_S) -> float:
    """$COURSE_DDP_TIMEOUT in seconds (default 300), checked: a finite number > 0."""
    text = os.environ.get("COURSE_DDP_TIMEOUT", "")
    try:
        value = float(text) if text.strip() else default
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigError(f"COURSE_DDP_TIMEOUT is not a number of seconds > 0 (COURSE_DDP_TIMEOUT={text!r}): "
                          "set it to e.g. 300, or unset it")
    return value


def _str2bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


class FlagParser(argparse.ArgumentParser):
    """argparse, whose errors are one line (`error: argument --lr: ...`) and exit status 2, not a usage dump."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (`{self.prog} --help` lists every flag)\n")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per TrainConfig field (`--bf16 true`); flags not given are left out of the namespace,
    so the run can fall back to the data set's recipe (`course_lib.training.config_from_args`)."""
    for f in fields(TrainConfig):
        default = getattr(TrainConfig, f.name)
        kind = _str2bool if isinstance(default, bool) else type(default)
        allowed = f"{_span(*RANGES[f.name])}; " if f.name in RANGES else ""
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=argparse.SUPPRESS,
                            help=f"({allowed}default: the data set's recipe, else {default!r})")


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields a parsed command line sets explicitly."""
    return {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}

"""Training: one batch's life cycle, evaluation, and `fit()`, the one loop for one process or DDP.

    step.py        train_step: to(device) -> forward -> loss -> zero_grad -> backward -> step
    loop.py        fit (+ train_epoch), one process or N (`world`)
    evaluate.py    predict, evaluate                     history.py     History (per epoch, curve per 1/8 epoch)
    schedule.py    make_optimizer (OneCycle), augmentation_schedule (clean last epochs)
    checkpoint.py  atomic save, safe load, resume checks device.py      get_device, seeds, bf16
    recipes.py     default_config, config_from_args, run_training (both command lines use it)
    lifecycle.py   one batch recorded step by step (week 3's stepper)
    per_sample.py  per-image gradients (week 3)             head_comparison.py  week 6's twins and timings
    distributed.py what DDP adds (launch, rendezvous, sharding, rank-0 I/O); distributed_checks.py: grads, bench;
                   distributed_roundrobin.py: roundrobin (week 7)

`from course_lib import training` gives the public API below (this file only re-exports it); the
distributed modules are imported by name (`from course_lib.training import distributed`).
"""
from .checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    check_checkpoint,
    checkpoint_state,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from .device import autocast_context, cpu_name, environment_line, get_device, seed_everything
from .evaluate import EvalResult, evaluate, predict
from .history import CURVE_POINTS_PER_EPOCH, History
from .lifecycle import LifeCycle, record_life_cycle
from .loop import EpochResult, SingleProcess, curve_points, fit, set_epoch, train_epoch
from .recipes import config_from_args, default_config, run_training
from .schedule import OneCycleThenHold, augmentation_schedule, make_optimizer
from .step import StepResult, train_step

__all__ = ["CHECKPOINT_FORMAT", "CURVE_POINTS_PER_EPOCH", "CheckpointError", "EpochResult", "EvalResult", "History",
           "LifeCycle", "OneCycleThenHold", "SingleProcess", "StepResult", "augmentation_schedule",
           "autocast_context", "check_checkpoint", "checkpoint_state", "config_from_args", "cpu_name",
           "curve_points", "default_config", "environment_line", "evaluate", "fit", "get_device",
           "load_checkpoint", "make_optimizer", "predict", "record_life_cycle", "restore_checkpoint",
           "run_training", "save_checkpoint", "seed_everything", "set_epoch", "train_epoch", "train_step"]

"""Checkpoints: written atomically (a crash leaves the previous file intact), loaded safely, and checked
to belong to the run that resumes from them."""
from __future__ import annotations

import io
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import CourseError
from ..files import atomic_write_bytes
from .history import History

CHECKPOINT_FORMAT = "course_lib.checkpoint/1"


class CheckpointError(CourseError):
    """A checkpoint is unreadable or does not belong to this run."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialize `state` to memory, then write it with fsync + rename: never a half-written file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (tensors and plain containers only, no code)."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path}: cannot load this checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "It is corrupted, truncated or not a course checkpoint: move it away to start fresh."
        ) from exc


def check_checkpoint(state: dict, path: str | Path, config: TrainConfig) -> None:
    """Raise CheckpointError unless `state` is a course_lib checkpoint of a run with `config`."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a course_lib checkpoint (format {state.get('format')!r}).")
    saved = state["config"]
    for key in ("dataset", "head", "backbone", "epochs", "batch_size", "lr", "schedule", "cooldown",
                "clean_epochs", "seed"):
        saved_value = saved.get(key, getattr(TrainConfig, key))  # old files lack new keys: the default
        if saved_value != getattr(config, key):
            raise CheckpointError(
                f"{path} belongs to a run with {key}={saved_value!r}, this run has "
                f"{key}={getattr(config, key)!r}. Use another --checkpoint path, or --resume false.")


def checkpoint_state(epoch: int, model: nn.Module, opt, sched, history: History, config: TrainConfig,
                     **extra) -> dict:
    """Everything needed to resume after `epoch` epochs (plain tensors and containers only)."""
    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "history": history.to_dict(), "config": asdict(config), **extra}


def restore_checkpoint(state: dict, model: nn.Module, opt, sched) -> tuple[int, History]:
    """Load weights, optimizer and schedule from `state`; return (epochs done, history)."""
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    return int(state["epoch"]), History.from_dict(state["history"])

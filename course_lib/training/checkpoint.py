"""Checkpoints: written atomically (a crash leaves the previous file intact), loaded safely, and checked
to belong to the run that resumes from them."""
from __future__ import annotations

import io
import pickle
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock, Timeout
from torch import nn

from ..config import TrainConfig, resume_differences
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
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise CheckpointError(f"cannot write the checkpoint ({path}: {type(exc).__name__}: "
                              f"{exc.strerror or exc}): the previous file is intact; free space or choose "
                              "another --checkpoint path") from exc


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True` (tensors and plain containers only, no code)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"the checkpoint path is a folder ({path}): give a file path, e.g. {path / 'run.pt'}")
    if path.exists() and path.stat().st_size == 0:
        raise CheckpointError(f"the checkpoint file is empty ({path}): move it away (or delete it) to start fresh")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path}: cannot load this checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "It is corrupted, truncated or not a course checkpoint: move it away to start fresh."
        ) from exc


REQUIRED = {"epoch": int, "model": dict, "optimizer": dict, "scheduler": dict, "history": dict, "config": dict}


def _a(kind: type) -> str:
    return f"{'an' if kind.__name__[0] in 'aeiou' else 'a'} {kind.__name__}"


def check_checkpoint(state: Any, path: str | Path, config: TrainConfig) -> None:
    """Raise CheckpointError unless `state` is a consistent course_lib checkpoint of a run with `config`."""
    move_away = "move it away to start fresh, or use another --checkpoint path"
    if not isinstance(state, dict):
        raise CheckpointError(f"not a course checkpoint: the file holds a {type(state).__name__}, not a dict "
                              f"({path}): {move_away}")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"not a course_lib checkpoint (format {state.get('format')!r} in {path}): {move_away}")
    for key, kind in REQUIRED.items():
        if key not in state:
            raise CheckpointError(f"the checkpoint lacks its {key!r} entry ({path}): {move_away}")
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise CheckpointError(f"the checkpoint's {key!r} is a {type(state[key]).__name__}, not {_a(kind)} "
                                  f"({path}): {move_away}")
    world_size = state.get("world_size", 1)  # written by data-parallel runs
    if not isinstance(world_size, int) or isinstance(world_size, bool) or world_size < 1:
        raise CheckpointError(f"the checkpoint's world_size is not a process count ({world_size!r} in {path}): "
                              f"{move_away}")
    saved, epoch = state["config"], state["epoch"]
    try:
        saved_config = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    except CourseError as exc:
        raise CheckpointError(f"the checkpoint's config is invalid ({path}: {exc}): {move_away}") from exc
    if not 0 <= epoch <= saved_config.epochs:
        raise CheckpointError(f"the checkpoint says {epoch} of {saved_config.epochs} epochs are done, which "
                              f"cannot be ({path}): {move_away}")
    recorded = state["history"].get("epoch", [])
    if list(recorded) != list(range(1, epoch + 1)):
        raise CheckpointError(f"the checkpoint's history does not match its {epoch} finished epochs (history "
                              f"epochs {list(recorded)[:10]} in {path}): {move_away}")
    diffs = resume_differences(saved, config)
    if diffs:
        raise CheckpointError(
            f"{path} belongs to a run with other settings ({'; '.join(diffs)}): resuming would change its "
            "data or learning-rate schedule. Give the same flags as that run, or use another --checkpoint "
            "path (--resume false starts over and overwrites this one).")


def check_writable(path: str | Path) -> None:
    """Raise CheckpointError unless a checkpoint can be written at `path` (checked before any epoch is spent)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"the checkpoint path is a folder ({path}): give a file path, e.g. {path / 'run.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot write a checkpoint in {path.parent} ({type(exc).__name__}: "
                              f"{exc.strerror or exc}): choose a writable folder for --checkpoint") from exc


def lock_checkpoint(path: str | Path) -> FileLock:
    """Hold `PATH.lock` for the whole run: a second run on the same checkpoint is refused, not interleaved
    with this one (the lock goes when the run ends, or with its process when it is killed)."""
    lock = FileLock(f"{path}.lock", blocking=False)
    try:
        lock.acquire()
    except Timeout as exc:
        raise CheckpointError(f"another run is using this checkpoint ({path}; {path}.lock is held): wait for "
                              "it to end, or use another --checkpoint path") from exc
    return lock


def checkpoint_state(epoch: int, model: nn.Module, opt, sched, history: History, config: TrainConfig,
                     **extra) -> dict:
    """Everything needed to resume after `epoch` epochs (plain tensors and containers only)."""
    return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "model": model.state_dict(),
            "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "history": history.to_dict(), "config": asdict(config), **extra}


def restore_checkpoint(state: dict, model: nn.Module, opt, sched,
                       path: str | Path = "checkpoint") -> tuple[int, History]:
    """Load weights, optimizer and schedule from `state`; return (epochs done, history)."""
    try:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"the checkpoint does not fit this model and optimizer ({path}: "
                              f"{type(exc).__name__}: {' '.join(str(exc).split())[:240]}): move it away "
                              "to start fresh, or use another --checkpoint path") from exc
    return int(state["epoch"]), history

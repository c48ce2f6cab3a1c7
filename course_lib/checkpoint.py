"""Checkpoints written atomically (a crash leaves the previous file intact) and loaded safely."""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import CourseError
from .files import atomic_write_bytes


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

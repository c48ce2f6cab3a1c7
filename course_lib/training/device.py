"""The device a run uses, its precision, its seeds, and the hardware line every reported number carries."""
from __future__ import annotations

import contextlib
import platform
import random
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError


def get_device(prefer: str | None = None) -> torch.device:
    """`prefer` if given (and present), else the best accelerator present: cuda, then mps, then cpu."""
    if prefer:
        try:
            device = torch.device(prefer)
        except RuntimeError as exc:
            raise ConfigError(f"unknown device ({prefer!r}): use cpu, cuda, cuda:N or mps, or leave it "
                              "empty for the best one present") from exc
        if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"device not present ({prefer!r}): this machine has {torch.cuda.device_count()} "
                              "CUDA GPU(s); use --device cpu, or leave it empty for the best one present")
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"device not present ({prefer!r}): this machine has no Apple GPU (mps); use "
                              "--device cpu, or leave it empty for the best one present")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run can be repeated exactly (on the same hardware)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast_context(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when asked for, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


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

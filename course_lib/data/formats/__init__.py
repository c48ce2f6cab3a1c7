"""Readers of the on-disk formats, chosen by `DatasetSpec.format` (never by a data set's name).

A reader is `read(spec, folder, files) -> (uint8 images (N,C,H,W), int64 labels (N,))`; `files` are the
split's `DataFile`s, all present in `folder`. A data set in a new format needs one `register_format`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ...errors import unknown_name
from . import cifar, idx

Reader = Callable[[Any, Path, Sequence[Any]], tuple[torch.Tensor, torch.Tensor]]

FORMATS: dict[str, Reader] = {"idx": idx.read, "cifar_pickle": cifar.read}


def register_format(name: str, reader: Reader) -> Reader:
    """Make `reader` the reader of format `name` (what a DatasetSpec names in its `format`)."""
    FORMATS[name] = reader
    return reader


def read_split(spec: Any, folder: Path, files: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split of `spec` with the reader of its format."""
    if spec.format not in FORMATS:
        raise unknown_name("format", spec.format, FORMATS)
    return FORMATS[spec.format](spec, folder, files)

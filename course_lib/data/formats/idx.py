"""IDX, the format of MNIST and Fashion-MNIST: a big-endian header (magic, shape), then raw uint8 values.

Read with torchvision's own IDX reader, after a header check that turns a truncated or foreign file
into a clear error. `idx_bytes` writes the format (what provisioning from a pickle and the tests need).
"""
from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ...errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array (N,) or (N,H,W) as an IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def check_idx_file(path: str | Path) -> tuple[int, ...]:
    """Check an uncompressed uint8 IDX file's header against its size; return its shape."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08 or head[3] not in (1, 3):
            raise DataError(
                f"{path}: not a uint8 IDX file (bad magic number {head.hex() or 'empty'}). "
                "Delete it and run `python -m course_lib data fetch <dataset>` again."
            )
        ndim = head[3]
        dims = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        raise DataError(
            f"{path}: truncated or corrupted (header says shape {dims}, i.e. {expected} bytes, "
            f"but the file has {size}). Delete it and run `python -m course_lib data fetch <dataset>`."
        )
    return dims


def read(spec: Any, folder: Path, files: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """One split from its (images, labels) IDX files: uint8 images (N,1,H,W), int64 labels (N,)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file  # torchvision's own reader

    images_path, labels_path = (folder / f.name for f in files)
    for path, ndim, what in ((images_path, 3, "images (N, H, W)"), (labels_path, 1, "labels (N,)")):
        dims = check_idx_file(path)  # clear error for truncated/corrupted files
        if len(dims) != ndim:
            raise DataError(f"{path}: holds shape {tuple(dims)}, but this file must hold {what}: it is corrupted "
                            f"or another file; run `python -m course_lib data fetch {spec.name}` to fetch it again")
    images, labels = read_image_file(str(images_path)), read_label_file(str(labels_path))
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} images but {len(labels)} labels; fetch again.")
    return images.unsqueeze(1).contiguous(), labels.long()  # (N,28,28) -> (N,1,28,28)

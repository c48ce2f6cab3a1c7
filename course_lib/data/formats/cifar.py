"""CIFAR's python format: pickled batch files, each a dict with `data` (N, C*H*W uint8) and labels.

Read with the arrays-only unpickler (`safe_pickle`): a batch file can never run code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ...errors import DataError
from ..safe_pickle import load_pickle_arrays_only


def _get(d: dict, key: str) -> Any:
    """CIFAR pickles written by Python 2 have str keys, later ones bytes keys."""
    if key in d:
        return d[key]
    if key.encode() in d:
        return d[key.encode()]
    raise KeyError(key)


def read(spec: Any, folder: Path, files: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """One split from its batch files: uint8 images (N,C,H,W), int64 labels (N,).

    `spec.format_options["label_key"]` names the labels (CIFAR-10: "labels", CIFAR-100: "fine_labels").
    """
    label_key = spec.format_options.get("label_key", "labels")
    images, labels = [], []
    for file in files:
        path = folder / file.name
        batch = load_pickle_arrays_only(path, gzipped=False)
        try:
            data = torch.as_tensor(_get(batch, "data"), dtype=torch.uint8)
            lab = torch.as_tensor(list(_get(batch, label_key)), dtype=torch.long)
            data = data.reshape(-1, *spec.input_shape)  # (N,3072) -> (N,3,32,32): R, G, B planes in turn
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise DataError(
                f"{path}: not a {spec.name} batch file ({type(exc).__name__}: {exc}). "
                f"Delete {folder} and run `python -m course_lib data fetch {spec.name}`."
            ) from exc
        if len(data) != len(lab) or (len(lab) and (lab.min() < 0 or lab.max() >= spec.num_classes)):
            raise DataError(f"{path}: labels do not match images or are out of range; fetch again.")
        images.append(data)
        labels.append(lab)
    return torch.cat(images), torch.cat(labels)

"""Tensors from disk and batch loaders. Both loaders yield `(X, y)`: X float32 (N,C,H,W) normalized, y int64 (N,).

- `InMemoryLoader` keeps the whole data set as one uint8 tensor and normalizes each batch on the
  fly (airbench's trick): no per-sample Python, several times faster on a 2-core laptop.
- a classic `torch.utils.data.DataLoader` over `TensorImageDataset` (per-sample work), taught in week 1.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError, DataError
from ..paths import data_root
from .checks import check_file, check_root, check_split
from .formats import read_split
from .registry import DatasetSpec, get_spec
from .transforms import normalize, random_affine

FAST_TRAIN_SIZE = 4096  # COURSE_FAST=1: training subset size
FAST_TEST_SIZE = 1024  # COURSE_FAST=1: test subset size


def is_fast_mode() -> bool:
    """True when COURSE_FAST=1: subsets and fewer epochs everywhere (CI, quick looks)."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=8)
def _load_cached(spec: DatasetSpec, train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    folder, files = check_root(root) / spec.folder, spec.files(train)
    for file in files:
        check_file(folder / file.name, spec, root)  # missing, dangling link, a folder, unreadable: one clear line
    images, labels = read_split(spec, folder, files)  # the reader of spec.format
    named = [folder / f.name for f in files] if len(files) <= 2 else [folder]  # (images, labels) or one file
    check_split(images, labels, spec, named[0], named[-1])  # shapes and label range, naming the file
    return images, labels


def load_tensors(name: str, train: bool = True,
                 root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as (uint8 images (N,C,H,W), int64 labels (N,)), read once per process."""
    return _load_cached(get_spec(name), bool(train), data_root(root).resolve())


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when both splits of `name` can be read from disk."""
    try:
        load_tensors(name, True, root)
        load_tensors(name, False, root)
        return True
    except DataError:
        return False


def state(name: str, root: str | os.PathLike | None = None) -> tuple[str, str]:
    """("ready" | "missing" | "corrupted", why): what `data list` shows; a file that is there but wrong
    (unreadable, truncated, out-of-range labels, a folder in its place) makes the data set corrupted."""
    spec, root = get_spec(name), data_root(root).resolve()
    paths = [root / spec.folder / f.name for f in spec.all_files]
    present = [p for p in paths if os.path.lexists(p)]
    if not present:
        return "missing", ""
    if len(present) < len(paths):
        absent = [p for p in paths if p not in present]
        return "corrupted", f"{len(absent)} of {len(paths)} files missing, e.g. {absent[0]}"
    try:
        load_tensors(name, True, root)
        load_tensors(name, False, root)
    except DataError as exc:
        return "corrupted", str(exc)
    return "ready", ""


class InMemoryLoader:
    """Batches from one uint8 tensor kept in memory, normalized on the fly.

    Shuffling depends only on (seed, epoch), like DistributedSampler, so a resumed run sees
    exactly the batches an uninterrupted one would: call `set_epoch(e)` before each epoch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec,
                 batch_size: int = 128, shuffle: bool = False, drop_last: bool = False,
                 seed: int = 0, augment: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.images, self.labels, self.spec = images, labels, spec
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.augment, self.epoch = seed, augment, 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for `epoch` next time (the order depends only on seed and epoch)."""
        self.epoch = epoch

    @property
    def num_samples(self) -> int:
        """How many images the loader holds."""
        return len(self.labels)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.num_samples, generator=gen) if self.shuffle else None
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            idx = order[sl] if order is not None else sl
            x = normalize(self.images[idx], self.spec)
            if self.augment:
                x = random_affine(x, gen, self.spec.augment_degrees, self.spec.augment_shift,
                                  flip=self.spec.hflip)
            yield x, self.labels[idx]


class TensorImageDataset(Dataset):
    """A classic map-style Dataset: item i is (normalized float image (C,H,W), label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec):
        self.images, self.labels, self.spec = images, labels, spec

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return normalize(self.images[i:i + 1], self.spec)[0], int(self.labels[i])


def subset_indices(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """A fixed random subset of k of n indices (sorted), the same every run."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values


def get_loaders(name: str, batch_size: int = 128, *, in_memory: bool = True, fast: bool | None = None,
                root: str | os.PathLike | None = None, augment: bool = False, seed: int = 0,
                test_batch_size: int = 1024, num_workers: int = 0,
                train_size: int | None = None) -> tuple[InMemoryLoader | DataLoader, InMemoryLoader | DataLoader]:
    """Train and test loaders for `name` (shuffled train, ordered test); fast mode uses subsets."""
    spec = get_spec(name)
    x_train, y_train = load_tensors(name, True, root)
    x_test, y_test = load_tensors(name, False, root)
    fast = is_fast_mode() if fast is None else fast
    if train_size and train_size > len(y_train):  # asked for more than there is: say so, do not train on less
        raise ConfigError(f"train_size larger than the training set ({train_size} > {len(y_train)} {name} images): "
                          f"give at most {len(y_train)}, or 0 for all of them")
    if train_size is None and fast:
        train_size = FAST_TRAIN_SIZE
    if train_size is not None and train_size < len(y_train):
        idx = subset_indices(len(y_train), train_size, seed)
        x_train, y_train = x_train[idx], y_train[idx]
    if fast and FAST_TEST_SIZE < len(y_test):
        idx = subset_indices(len(y_test), FAST_TEST_SIZE, seed)
        x_test, y_test = x_test[idx], y_test[idx]
    if in_memory:
        train = InMemoryLoader(x_train, y_train, spec, batch_size, shuffle=True, seed=seed, augment=augment)
        test = InMemoryLoader(x_test, y_test, spec, test_batch_size)
        return train, test
    gen = torch.Generator().manual_seed(seed)
    train = DataLoader(TensorImageDataset(x_train, y_train, spec), batch_size=batch_size,
                       shuffle=True, num_workers=num_workers, generator=gen)
    test = DataLoader(TensorImageDataset(x_test, y_test, spec), batch_size=test_batch_size,
                      num_workers=num_workers)
    return train, test

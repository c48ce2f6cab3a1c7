"""Datasets: a registry (shape, classes, mean/std), tensors from disk, and batch loaders.

Two ways to get batches, both yielding `(X, y)` with X float32 (N,C,H,W) normalized and y int64 (N,):
- `InMemoryLoader` keeps the whole dataset as one uint8 tensor and normalizes each batch on the
  fly (airbench's trick): no per-sample Python, several times faster on a 2-core laptop.
- a classic `torch.utils.data.DataLoader` over `TensorImageDataset` (per-sample work), taught in week 1.
Provisioning (downloads, offline copies, checksums) lives in `provision.py`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from .errors import DataError, unknown_name
from .paths import data_root
from .safe_files import check_idx_file, load_pickle_arrays_only

FAST_TRAIN_SIZE = 4096  # COURSE_FAST=1: training subset size
FAST_TEST_SIZE = 1024  # COURSE_FAST=1: test subset size

_CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


@dataclass(frozen=True)
class DatasetSpec:
    """What the course needs to know about one dataset."""

    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of pixel/255 over the training set
    std: tuple[float, ...]
    folder: str  # sub-folder of the data root holding the files
    hflip: bool = False  # may augmentation mirror images? (never for digits or clothes' text)
    # augmentation strength: rotation up to +-degrees, shift up to +-shift of the image size
    augment_degrees: float = 10.0
    augment_shift: float = 0.1

    @property
    def num_classes(self) -> int:
        return len(self.classes)


# mean/std: `compute_stats(name)` over the full training set (pixel/255, population std).
# MNIST and Fashion-MNIST were recomputed here on the provisioned files (torch 2.14.1) and a test
# re-checks them against the data; CIFAR figures are the standard ones computed the same way
# (no copy of CIFAR is reachable here to re-check them).
DATASETS: dict[str, DatasetSpec] = {
    # 28x28 greyscale, 8 degrees and ~2 px: measured best for the 7,966-parameter MNIST recipe, whose
    # last 2 epochs are un-augmented (5 degrees/~1 px was as good on average but less even across
    # seeds; CIFAR's 10 degrees/~3 px cost accuracy); Fashion-MNIST keeps 5 degrees/~1 px (not tuned)
    "mnist": DatasetSpec("mnist", (1, 28, 28), tuple("0123456789"), (0.1307,), (0.3081,), "MNIST",
                         augment_degrees=8.0, augment_shift=0.08),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", (1, 28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        (0.2860,), (0.3530,), "FashionMNIST", augment_degrees=5.0, augment_shift=0.04),
    "cifar10": DatasetSpec(
        "cifar10", (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar-10-batches-py", hflip=True),
    "cifar100": DatasetSpec(
        "cifar100", (3, 32, 32), tuple(_CIFAR100_CLASSES),
        (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "cifar-100-python", hflip=True),
}
assert len(DATASETS["cifar100"].classes) == 100


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name`; unknown names raise an error listing the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise unknown_name("dataset", name, DATASETS) from None


def is_fast_mode() -> bool:
    """True when COURSE_FAST=1: subsets and fewer epochs everywhere (CI, quick looks)."""
    return os.environ.get("COURSE_FAST", "0").strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------- reading files into tensors

_IDX_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {
    "cifar10": {True: [f"data_batch_{i}" for i in range(1, 6)], False: ["test_batch"]},
    "cifar100": {True: ["train"], False: ["test"]},
}


def _missing(spec: DatasetSpec, root: Path, what: Path) -> DataError:
    return DataError(
        f"{spec.name}: {what} is missing. Run `python -m course_lib data fetch {spec.name}` "
        f"(or `make data`) to provision it into {root}."
    )


def _load_idx(spec: DatasetSpec, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    import torchvision

    raw = root / spec.folder / "raw"
    for fname in _IDX_FILES[train]:
        if not (raw / fname).exists():
            raise _missing(spec, root, raw / fname)
        check_idx_file(raw / fname)  # clear error for truncated/corrupted files
    cls = torchvision.datasets.MNIST if spec.name == "mnist" else torchvision.datasets.FashionMNIST
    ds = cls(str(root), train=train, download=False)  # torchvision's own reader
    if len(ds.data) != len(ds.targets):
        raise DataError(f"{raw}: {len(ds.data)} images but {len(ds.targets)} labels; fetch again.")
    return ds.data.unsqueeze(1).contiguous(), ds.targets.long()  # (N,28,28) -> (N,1,28,28)


def _get(d: dict, key: str):
    """CIFAR pickles written by Python 2 have str keys, later ones bytes keys."""
    if key in d:
        return d[key]
    if key.encode() in d:
        return d[key.encode()]
    raise KeyError(key)


def _load_cifar(spec: DatasetSpec, root: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    label_key = "labels" if spec.name == "cifar10" else "fine_labels"
    images, labels = [], []
    for fname in _CIFAR_FILES[spec.name][train]:
        path = root / spec.folder / fname
        if not path.exists():
            from .provision import cifar_missing_error

            raise cifar_missing_error(spec.name, root)
        batch = load_pickle_arrays_only(path, gzipped=False)
        try:
            data = torch.as_tensor(_get(batch, "data"), dtype=torch.uint8)
            lab = torch.as_tensor(list(_get(batch, label_key)), dtype=torch.long)
            data = data.reshape(-1, 3, 32, 32)  # (N,3072) -> (N,3,32,32): CIFAR stores R,G,B planes
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise DataError(
                f"{path}: not a {spec.name} batch file ({type(exc).__name__}: {exc}). "
                f"Delete {root / spec.folder} and run `python -m course_lib data fetch {spec.name}`."
            ) from exc
        if len(data) != len(lab) or (len(lab) and (lab.min() < 0 or lab.max() >= spec.num_classes)):
            raise DataError(f"{path}: labels do not match images or are out of range; fetch again.")
        images.append(data)
        labels.append(lab)
    return torch.cat(images), torch.cat(labels)


@lru_cache(maxsize=8)
def _load_cached(name: str, train: bool, root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    spec = get_spec(name)
    if spec.name in ("mnist", "fashion_mnist"):
        return _load_idx(spec, root, train)
    return _load_cifar(spec, root, train)


def load_tensors(name: str, train: bool = True, root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole split as (uint8 images (N,C,H,W), int64 labels (N,)), read once per process."""
    return _load_cached(name, bool(train), data_root(root).resolve())


def is_available(name: str, root=None) -> bool:
    """True when both splits of `name` can be read from disk."""
    try:
        load_tensors(name, True, root)
        load_tensors(name, False, root)
        return True
    except DataError:
        return False


def compute_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images (N,C,H,W), as pixel/255."""
    x = images.double().div_(255).transpose(0, 1).reshape(images.shape[1], -1)  # (C, N*H*W)
    return tuple(x.mean(1).tolist()), tuple(x.std(1, unbiased=False).tolist())


def normalize(images_uint8: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """uint8 (N,C,H,W) -> float32 normalized with the dataset's mean/std."""
    mean = torch.tensor(spec.mean, device=images_uint8.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=images_uint8.device).view(1, -1, 1, 1)
    return (images_uint8.float().div(255) - mean) / std


def denormalize(x: torch.Tensor, spec: DatasetSpec) -> torch.Tensor:
    """Inverse of `normalize`, giving floats in [0, 1] for display."""
    mean = torch.tensor(spec.mean, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, -1, 1, 1)
    return (x * std + mean).clamp(0, 1)


# ------------------------------------------------------------------------------- loaders

def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float, shift: float,
                  flip: bool = False) -> torch.Tensor:
    """Batch-wise augmentation: each image rotated by up to `degrees`, moved by up to `shift` of
    its size (and mirrored half of the time when `flip`), in one grid_sample call. The loaders take
    the strength from the dataset's DatasetSpec (augment_degrees, augment_shift)."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * degrees * torch.pi / 180
    move = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift * 2  # grid units span 2
    mirror = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos * mirror, -sin, move[:, 0]], 1),
                         torch.stack([sin * mirror, cos, move[:, 1]], 1)], 1)  # (N,2,3)
    grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, padding_mode="border", align_corners=False)


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
        self.epoch = epoch

    @property
    def num_samples(self) -> int:
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
                root=None, augment: bool = False, seed: int = 0, test_batch_size: int = 1024,
                num_workers: int = 0, train_size: int | None = None):
    """Train and test loaders for `name` (shuffled train, ordered test); fast mode uses subsets."""
    spec = get_spec(name)
    x_train, y_train = load_tensors(name, True, root)
    x_test, y_test = load_tensors(name, False, root)
    fast = is_fast_mode() if fast is None else fast
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

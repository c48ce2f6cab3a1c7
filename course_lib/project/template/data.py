"""data.py: the images as a Dataset, normalized with the data set's mean/std, cut into batches.

    train_loader, test_loader = build_loaders("mnist", batch_size=64)
    for X, y in train_loader: ...   # X float32 (B, C, H, W) normalized, y int64 (B,)

course_lib only reads the files for you (`load_tensors`: uint8 images, int64 labels); the rest is yours.
Write the functions in order, then run `python -m course_lib project check` to see what is left.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from course_lib import data as course_data  # noqa: F401 - the course's data sets: files, mean/std, classes


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 images (N,C,H,W) in 0..255 -> float32 (N,C,H,W): pixel/255, minus mean, over std, per channel.

    `mean` and `std` hold one number per channel (1 for MNIST, 3 for CIFAR). Hint: reshape them
    to (1,C,1,1) so they broadcast over N, H and W.
    """
    raise NotImplementedError("TODO: return (images / 255 - mean) / std as float32, per channel")


class ImageDataset(Dataset):
    """A map-style Dataset: item i is (normalized float32 image (C,H,W), int label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 mean: tuple[float, ...], std: tuple[float, ...]):
        self.images, self.labels = images, labels  # uint8 (N,C,H,W), int64 (N,)
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        """The number of images."""
        raise NotImplementedError("TODO: return how many images this data set holds")

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """(image i normalized: float32 (C,H,W), its label as a Python int)."""
        raise NotImplementedError("TODO: return (normalize(image i), int(label i)), the image of shape (C,H,W)")


def build_dataset(name: str, train: bool = True, root=None, size: int | None = None) -> ImageDataset:
    """The train (or test) split of `name` as an ImageDataset; `size` keeps only its first `size` images.

    `course_data.load_tensors(name, train, root)` gives (uint8 images (N,C,H,W), int64 labels (N,));
    `course_data.get_spec(name)` has `.mean` and `.std`, measured on the training images.
    """
    raise NotImplementedError("TODO: load the tensors, keep the first `size`, wrap them in an ImageDataset")


def build_loaders(name: str, batch_size: int = 64, root=None, train_size: int | None = None,
                  test_size: int | None = None, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader): training batches in a new random order every epoch, test in file order.

    Each batch is (X float32 (B,C,H,W), y int64 (B,)). Use build_dataset for both splits
    (`train_size` and `test_size` images), DataLoader(shuffle=...) and, for runs that repeat,
    `generator=torch.Generator().manual_seed(seed)` on the training loader.
    """
    raise NotImplementedError("TODO: return (DataLoader over the shuffled train split, DataLoader over the test split)")

"""data.py: the images as a Dataset, normalized with the data set's mean/std, cut into batches.

    train_loader, test_loader = build_loaders("mnist", batch_size=64)
    for X, y in train_loader: ...   # X float32 (B, C, H, W) normalized, y int64 (B,)

course_lib only reads the files for us (`load_tensors`: uint8 images, int64 labels); the rest is ours.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from course_lib import data as course_data  # the course's data sets: files, mean/std, class names


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 images (N,C,H,W) in 0..255 -> float32 (N,C,H,W): pixel/255, minus mean, over std, per channel."""
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)  # (C,) -> (1,C,1,1): broadcasts over N, H and W
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    return (images.float() / 255 - mean_t) / std_t


class ImageDataset(Dataset):
    """A map-style Dataset: item i is (normalized float32 image (C,H,W), int label)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor,
                 mean: tuple[float, ...], std: tuple[float, ...]):
        self.images, self.labels = images, labels  # uint8 (N,C,H,W), int64 (N,)
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = normalize(self.images[i:i + 1], self.mean, self.std)  # one image kept as a batch: (1,C,H,W)
        return x[0], int(self.labels[i])  # (1,C,H,W) -> (C,H,W)


def build_dataset(name: str, train: bool = True, root=None, size: int | None = None) -> ImageDataset:
    """The train (or test) split of `name` as an ImageDataset; `size` keeps only its first `size` images."""
    images, labels = course_data.load_tensors(name, train, root)  # uint8 (N,C,H,W), int64 (N,)
    if size is not None:
        images, labels = images[:size], labels[:size]
    spec = course_data.get_spec(name)  # mean/std per channel, measured on the training images
    return ImageDataset(images, labels, spec.mean, spec.std)


def build_loaders(name: str, batch_size: int = 64, root=None, train_size: int | None = None,
                  test_size: int | None = None, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """(train_loader, test_loader): training batches in a new random order every epoch, test in file order."""
    train_set = build_dataset(name, True, root, train_size)
    test_set = build_dataset(name, False, root, test_size)
    shuffler = torch.Generator().manual_seed(seed)  # the same orders on every run
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffler)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)  # order does not matter
    return train_loader, test_loader

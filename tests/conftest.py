"""Shared fixtures: small data sets written in each format's real on-disk layout (no network)."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from course_lib.safe_files import idx_bytes

REPO = Path(__file__).resolve().parent.parent


def write_fake_idx_dataset(root: Path, folder: str, n_train: int = 256, n_test: int = 128, seed: int = 0) -> None:
    """Write MNIST-style IDX files whose class is readable from the image (a bright row per class)."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 255  # a class-dependent bar
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


def write_fake_cifar(root: Path, name: str = "cifar10", n_per_file: int = 40, seed: int = 0) -> None:
    """Write CIFAR python-pickle batch files (dicts of numpy arrays, as the real ones)."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        folder, key, k = root / "cifar-10-batches-py", b"labels", 10
    else:
        folder, files, key, k = root / "cifar-100-python", ["train", "test"], b"fine_labels", 100
    folder.mkdir(parents=True, exist_ok=True)
    for fname in files:
        data = rng.integers(0, 256, (n_per_file, 3072)).astype(np.uint8)
        labels = rng.integers(0, k, n_per_file).tolist()
        with open(folder / fname, "wb") as fh:
            pickle.dump({b"data": data, key: labels, b"batch_label": fname.encode()}, fh, protocol=2)


@pytest.fixture()
def fake_root(tmp_path: Path) -> Path:
    """A data root holding small fake MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100."""
    write_fake_idx_dataset(tmp_path, "MNIST")
    write_fake_idx_dataset(tmp_path, "FashionMNIST", seed=1)
    write_fake_cifar(tmp_path, "cifar10")
    write_fake_cifar(tmp_path, "cifar100")
    return tmp_path


def real_data_available(name: str) -> bool:
    from course_lib import data

    return data.is_available(name)


needs_mnist = pytest.mark.skipif(
    not os.environ.get("CI") and not real_data_available("mnist"),
    reason="real MNIST not provisioned: run `make data`",
)

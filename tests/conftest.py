"""Shared fixtures: small data sets written in each format's real on-disk layout (no network).

The fake files follow each registered DatasetSpec (its folder, files and format), so a data set added
to the registry in a known format gets fake data here without any change.
"""
from __future__ import annotations

import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

from course_lib import data
from course_lib.data.formats.idx import idx_bytes

REPO = Path(__file__).resolve().parent.parent


def write_fake_idx(spec: data.DatasetSpec, root: Path, n_train: int = 256, n_test: int = 128,
                   seed: int = 0) -> None:
    """IDX files whose class is readable from the image (a bright row per class)."""
    rng = np.random.default_rng(seed)
    _, h, w = spec.input_shape
    for files, n in ((spec.train_files, n_train), (spec.test_files, n_test)):
        labels = rng.integers(0, spec.num_classes, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, h, w)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 + 2 * c: 4 + 2 * c, 4:24] = 255  # a class-dependent bar
        images_file, labels_file = (root / spec.folder / f.name for f in files)
        images_file.parent.mkdir(parents=True, exist_ok=True)
        images_file.write_bytes(idx_bytes(images))
        labels_file.write_bytes(idx_bytes(labels))


def write_fake_cifar(spec: data.DatasetSpec, root: Path, n_per_file: int = 40, seed: int = 0) -> None:
    """CIFAR python-pickle batch files (dicts of numpy arrays, as the real ones)."""
    rng = np.random.default_rng(seed)
    key = spec.format_options.get("label_key", "labels").encode()
    (root / spec.folder).mkdir(parents=True, exist_ok=True)
    for file in spec.all_files:
        pixels = rng.integers(0, 256, (n_per_file, int(np.prod(spec.input_shape)))).astype(np.uint8)
        labels = rng.integers(0, spec.num_classes, n_per_file).tolist()
        with open(root / spec.folder / file.name, "wb") as fh:
            pickle.dump({b"data": pixels, key: labels, b"batch_label": file.name.encode()}, fh, protocol=2)


FAKE_WRITERS = {"idx": write_fake_idx, "cifar_pickle": write_fake_cifar}  # one per on-disk format


def write_fake_dataset(root: Path, name: str, **sizes) -> None:
    """Small fake files for the registered data set `name`, in its own format and layout."""
    spec = data.get_spec(name)
    FAKE_WRITERS[spec.format](spec, root, **sizes)


@pytest.fixture()
def fake_root(tmp_path: Path) -> Path:
    """A data root holding small fake copies of every registered data set (MNIST, Fashion-MNIST, CIFAR...)."""
    for seed, (name, spec) in enumerate(data.DATASETS.items()):
        if spec.format in FAKE_WRITERS:
            write_fake_dataset(tmp_path, name, seed=seed)
    return tmp_path


def real_data_available(name: str) -> bool:
    return data.is_available(name)


needs_mnist = pytest.mark.skipif(
    not os.environ.get("CI") and not real_data_available("mnist"),
    reason="real MNIST not provisioned: run `make data`",
)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a user error must print (exit status 2, no traceback)."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]

"""Checks of the learner's data.py: normalization equals course_lib's, Dataset items, DataLoader batches."""
from __future__ import annotations

import torch

from course_lib import data as course_data
from course_lib.project.plugin import doing, expect


def _same_tensor(what: str, got, want: torch.Tensor, hint: str) -> None:
    expect(isinstance(got, torch.Tensor), f"{what} returned {type(got).__name__}, expected a tensor")
    expect(tuple(got.shape) == tuple(want.shape), f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    expect(got.dtype == want.dtype, f"{what} has dtype {got.dtype}, expected {want.dtype}")
    diff = (got - want).abs().max().item() if got.numel() else 0.0
    expect(diff <= 1e-5, f"{what} differs from course_lib's data.normalize by up to {diff:.3g}: {hint}")



def test_data_normalize(project, dataset):
    """normalize gives the same floats as course_lib's data.normalize"""
    spec = course_data.get_spec(dataset)
    images = torch.randint(0, 256, (4, *spec.input_shape), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    with doing(f"normalize(images {tuple(images.shape)}, mean, std)"):
        got = project.data.normalize(images.clone(), spec.mean, spec.std)
    _same_tensor(f"normalize(images {tuple(images.shape)}, mean, std)", got, course_data.normalize(images, spec),
                 "divide by 255 first, then subtract the mean and divide by the std of each channel")


def test_data_dataset(project, dataset, root):
    """build_dataset: one item per image, each (normalized float32 (C,H,W) image, int label)"""
    spec = course_data.get_spec(dataset)
    for train, split in ((True, "training"), (False, "test")):
        images, labels = course_data.load_tensors(dataset, train, root)
        call = f"build_dataset({dataset!r}, train={train})"
        with doing(call):
            ds = project.data.build_dataset(dataset, train, root)
            n = len(ds)
        expect(n == len(labels), f"len({call}) is {n}, expected {len(labels)}: one item per {split} image")
        for i in (0, n - 1):
            with doing(f"{call}[{i}]"):
                item = ds[i]
            expect(isinstance(item, tuple) and len(item) == 2, f"{call}[{i}] should be a pair (image, label)")
            x, y = item
            _same_tensor(f"the image of {call}[{i}]", x, course_data.normalize(images[i:i + 1], spec)[0],
                         "normalize item i with the data set's mean and std")
            expect(isinstance(y, int) and not isinstance(y, bool), f"the label of {call}[{i}] is a "
                   f"{type(y).__name__}, expected a Python int: int(labels[i])")
            expect(y == int(labels[i]), f"the label of {call}[{i}] is {y}, expected {int(labels[i])}")
    with doing(f"build_dataset({dataset!r}, size=10)"):
        n = len(project.data.build_dataset(dataset, True, root, size=10))
    expect(n == 10, f"build_dataset({dataset!r}, size=10) holds {n} images, expected 10")


def test_data_loaders(project, dataset, root):
    """build_loaders: batches (float32 (B,C,H,W), int64 (B,)), normalized; training batches reshuffled each epoch"""
    spec = course_data.get_spec(dataset)
    images, labels = course_data.load_tensors(dataset, False, root)
    _, tr_labels = course_data.load_tensors(dataset, True, root)
    n_train, n_test = min(64, len(tr_labels)), min(32, len(labels))  # small data sets in the course's tests
    call = f"build_loaders({dataset!r}, batch_size=16, train_size={n_train}, test_size={n_test})"
    with doing(call):
        train, test = project.data.build_loaders(dataset, batch_size=16, root=root, train_size=n_train,
                                                 test_size=n_test)
        X, y = next(iter(test))
    expect(isinstance(y, torch.Tensor) and y.dtype == torch.int64 and tuple(y.shape) == (16,),
           f"{call}: the labels of a batch should be an int64 tensor of shape (16,), got "
           f"{getattr(y, 'dtype', type(y))} {tuple(getattr(y, 'shape', ()))}")
    _same_tensor("the first test batch", X, course_data.normalize(images[:16], spec),
                 "the test loader should give the first test images, in file order (shuffle=False), normalized")
    expect(torch.equal(y, labels[:16]), "the first test batch's labels are not the first 16 test labels: shuffle=False")
    with doing(f"iterating over the training loader of {call}"):
        epochs = [torch.cat([yb for _, yb in train]) for _ in range(2)]
    expect(len(epochs[0]) == n_train, f"the training loader gave {len(epochs[0])} images per epoch, "
           f"expected train_size={n_train}")
    expect(sorted(epochs[0].tolist()) == sorted(tr_labels[:n_train].tolist()),
           "the training loader should give the first train_size training images")
    expect(not torch.equal(epochs[0], tr_labels[:n_train]), "training batches come in file order: shuffle=True")
    expect(not torch.equal(epochs[0], epochs[1]), "both epochs came in the same order: shuffle every epoch")

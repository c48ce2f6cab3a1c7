"""Data: registry, reading the real on-disk formats, loaders, provisioning and bad files."""
from __future__ import annotations

import dataclasses
import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch

from course_lib import data, provision
from course_lib.errors import DataError, UnknownNameError
from course_lib.safe_files import check_idx_file, idx_bytes, load_pickle_arrays_only

from .conftest import needs_mnist, write_fake_cifar


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        data.get_spec("imagenet")
    for name in data.DATASETS:
        assert name in str(err.value)


@pytest.mark.parametrize("name,shape,n_train,n_test", [
    ("mnist", (1, 28, 28), 256, 128), ("fashion_mnist", (1, 28, 28), 256, 128),
    ("cifar10", (3, 32, 32), 200, 40), ("cifar100", (3, 32, 32), 40, 40)])
def test_load_tensors_from_real_formats(fake_root, name, shape, n_train, n_test):
    x, y = data.load_tensors(name, True, fake_root)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert tuple(x.shape) == (n_train, *shape) and len(y) == n_train
    assert int(y.max()) < data.get_spec(name).num_classes
    assert len(data.load_tensors(name, False, fake_root)[0]) == n_test


def test_cifar_pixels_are_channel_planes(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", n_per_file=3)
    raw = load_pickle_arrays_only(tmp_path / "cifar-10-batches-py" / "data_batch_1", gzipped=False)
    x, _ = data.load_tensors("cifar10", True, tmp_path)
    # CIFAR stores 1024 red values, then 1024 green, then 1024 blue, row-major
    assert x[0, 1, 0, 5].item() == raw[b"data"][0, 1024 + 5]
    assert x[0, 2, 31, 31].item() == raw[b"data"][0, 3071]


def test_in_memory_and_dataloader_give_the_same_batches(fake_root):
    fast_tr, fast_te = data.get_loaders("mnist", 32, root=fake_root, fast=False)
    slow_tr, slow_te = data.get_loaders("mnist", 32, root=fake_root, fast=False, in_memory=False)
    (xa, ya), (xb, yb) = next(iter(fast_te)), next(iter(slow_te))
    assert torch.allclose(xa, xb) and torch.equal(ya, yb)
    assert len(fast_tr) == len(slow_tr) == 8  # 256 / 32
    spec = data.get_spec("mnist")
    assert abs(xa.mean().item() - ((xa * spec.std[0] + spec.mean[0]).mean().item() - spec.mean[0]) / spec.std[0]) < 1e-5


def test_shuffling_depends_only_on_seed_and_epoch(fake_root):
    train, _ = data.get_loaders("mnist", 64, root=fake_root, fast=False)
    train.set_epoch(3)
    first = [y for _, y in train]
    train.set_epoch(0)
    other = [y for _, y in train]
    train.set_epoch(3)
    again = [y for _, y in train]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))
    assert sorted(torch.cat(first).tolist()) == sorted(torch.cat(other).tolist())


def test_augmentation_strength_comes_from_the_dataset_spec(fake_root):
    images, labels = data.load_tensors("mnist", True, fake_root)
    images, labels = images[:64], labels[:64]
    plain = data.normalize(images, data.get_spec("mnist"))

    def augmented(spec):
        loader = data.InMemoryLoader(images, labels, spec, 64, augment=True)
        return next(iter(loader))[0]

    mnist = data.get_spec("mnist")
    assert (mnist.augment_degrees, mnist.augment_shift) == (8.0, 0.08)  # the default recipe's strength
    assert data.get_spec("cifar10").augment_degrees == 10.0 and data.get_spec("cifar10").hflip
    still = dataclasses.replace(mnist, augment_degrees=0.0, augment_shift=0.0)
    assert torch.allclose(augmented(still), plain, atol=1e-5)  # no rotation, no shift: the same pixels
    strong = dataclasses.replace(mnist, augment_degrees=30.0, augment_shift=0.2)
    mild, strong = augmented(mnist), augmented(strong)
    assert 0 < (mild - plain).abs().mean() < (strong - plain).abs().mean()


def test_fast_mode_uses_fixed_subsets(fake_root, monkeypatch):
    monkeypatch.setattr(data, "FAST_TRAIN_SIZE", 100)
    monkeypatch.setattr(data, "FAST_TEST_SIZE", 50)
    monkeypatch.setenv("COURSE_FAST", "1")
    train, test = data.get_loaders("mnist", 10, root=fake_root)
    assert train.num_samples == 100 and test.num_samples == 50
    monkeypatch.setenv("COURSE_FAST", "0")
    assert data.get_loaders("mnist", 10, root=fake_root)[0].num_samples == 256


def test_compute_stats_matches_numpy():
    x = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    mean, std = data.compute_stats(x)
    arr = x.numpy().astype(np.float64) / 255
    assert np.allclose(mean, arr.mean(axis=(0, 2, 3))) and np.allclose(std, arr.std(axis=(0, 2, 3)))


# ------------------------------------------------------------------ bad files, clear errors

def test_truncated_idx_file_is_reported(fake_root):
    path = fake_root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated"):
        data.load_tensors("mnist", False, fake_root)


def test_garbage_idx_file_is_reported(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match="not a uint8 IDX file"):
        check_idx_file(path)


def test_missing_mnist_says_how_to_fetch(tmp_path):
    with pytest.raises(DataError, match="course_lib data fetch mnist"):
        data.load_tensors("mnist", True, tmp_path)


def test_missing_cifar_offline_names_the_archive_and_place(tmp_path):
    with pytest.raises(DataError) as err:
        provision.fetch("cifar100", tmp_path, try_download=False)
    msg = str(err.value)
    assert "cifar-100-python.tar.gz" in msg and str(tmp_path) in msg and "md5" in msg
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        data.load_tensors("cifar10", True, tmp_path)


def test_wrong_cifar_archive_is_rejected_by_md5(tmp_path):
    write_fake_cifar(tmp_path / "src", "cifar10", n_per_file=2)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    with pytest.raises(DataError, match="md5"):
        provision.fetch("cifar10", tmp_path, try_download=False)
    assert not (tmp_path / "cifar-10-batches-py").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_malicious_pickle_does_not_execute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_fake_cifar(tmp_path, "cifar10", n_per_file=2)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, fh, protocol=2)
    with pytest.raises(DataError, match="refusing to load"):
        data.load_tensors("cifar10", False, tmp_path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_truncated_pickle_is_reported(tmp_path):
    write_fake_cifar(tmp_path, "cifar100", n_per_file=4)
    path = tmp_path / "cifar-100-python" / "test"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupted or truncated"):
        data.load_tensors("cifar100", False, tmp_path)


# ------------------------------------------------------------------ provisioning paths

def _tiny_mnist_pickle(path, scale=256.0):
    rng = np.random.default_rng(0)
    splits = []
    for n in (6, 3, 2):
        pixels = rng.integers(0, 256, (n, 784))
        splits.append(((pixels / scale).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)))
    with gzip.open(path, "wb") as fh:
        pickle.dump(tuple(splits), fh, protocol=2)
    return splits


def test_mnist_pickle_becomes_60k_style_splits(tmp_path):
    splits = _tiny_mnist_pickle(tmp_path / "m.pkl.gz")
    arrays = provision.mnist_arrays_from_pickle(tmp_path / "m.pkl.gz")
    train_x = arrays["train-images-idx3-ubyte"]
    assert train_x.shape == (9, 28, 28) and train_x.dtype == np.uint8  # train + valid, in order
    expected = np.round(np.concatenate([splits[0][0], splits[1][0]]) * 256).reshape(9, 28, 28)
    assert np.array_equal(train_x, expected)
    assert arrays["train-labels-idx1-ubyte"].tolist() == splits[0][1].tolist() + splits[1][1].tolist()
    assert arrays["t10k-images-idx3-ubyte"].shape == (2, 28, 28)


def test_mnist_pickle_with_wrong_scale_is_rejected(tmp_path):
    _tiny_mnist_pickle(tmp_path / "m.pkl.gz", scale=255.0)
    with pytest.raises(DataError, match="1/256"):
        provision.mnist_arrays_from_pickle(tmp_path / "m.pkl.gz")


def test_fashion_mnist_copy_is_verified(tmp_path, monkeypatch):
    src = tmp_path / "debian"
    src.mkdir()
    for fname in provision.IDX_SHA256["fashion_mnist"]:
        (src / f"{fname}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(src))
    with pytest.raises(DataError, match="sha256"):
        provision.fashion_mnist_from_debian(tmp_path / "root")
    (src / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08 truncated")
    with pytest.raises(DataError, match="truncated or corrupted"):
        provision.fashion_mnist_from_debian(tmp_path / "root")
    assert not (tmp_path / "root" / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()


def test_fashion_mnist_missing_offline_says_what_is_missing_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as info:
        provision.fetch("fashion_mnist", tmp_path / "root", try_download=False)
    message = str(info.value)
    assert "\n" not in message  # one line
    assert str(tmp_path / "nowhere" / "train-images-idx3-ubyte.gz") in message  # what was looked for
    assert "skipped (offline)" in message and "COURSE_FASHION_MNIST_DIR" in message and "make data" in message
    assert not (tmp_path / "root" / "FashionMNIST").exists()


def _write_deb(path, members: dict[str, bytes]) -> None:
    """A minimal Debian package: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    def tar_xz(files: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
            for name, payload in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()

    parts = [("debian-binary", b"2.0\n"), ("control.tar.xz", tar_xz({"./control": b"Package: x\n"})),
             ("data.tar.xz", tar_xz({f"./usr/share/datasets/fashion-mnist/{n}": b for n, b in members.items()}))]
    blob = b"!<arch>\n"
    for name, body in parts:
        blob += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode() + body
        blob += b"\n" if len(body) % 2 else b""
    path.write_bytes(blob)


def test_debian_package_file_is_read_without_dpkg_and_verified(tmp_path, monkeypatch):
    members = {f"{f}.gz": gzip.compress(f"payload of {f}".encode()) for f in provision.IDX_SHA256["fashion_mnist"]}
    deb = tmp_path / "pkg.deb"
    _write_deb(deb, {**members, "README": b"not wanted"})
    assert provision.deb_members(deb, set(members)) == members  # odd-length members padded correctly
    with pytest.raises(DataError, match="lacks"):
        provision.deb_members(deb, {"absent.gz"})
    (tmp_path / "not.deb").write_bytes(b"PK\x03\x04 a zip")
    with pytest.raises(DataError, match="not a Debian package"):
        provision.deb_members(tmp_path / "not.deb", set(members))

    # the whole path with the download replaced: contents that fail their sha256 write nothing
    def fake_download(dest):
        target = dest / "fake.deb"
        target.write_bytes(deb.read_bytes())
        return target

    monkeypatch.setattr(provision, "_download_debian_package", fake_download)
    with pytest.raises(DataError, match="sha256"):
        provision.fashion_mnist_from_debian_package(tmp_path / "root")
    assert not (tmp_path / "root" / "FashionMNIST" / "raw").exists()
    assert list((tmp_path / "root" / "downloads").iterdir()) == []  # the temporary package is gone


def test_fashion_mnist_sources_are_tried_in_order_and_reported(tmp_path, monkeypatch):
    tried = []
    monkeypatch.setattr(provision, "_torchvision_download", lambda name, root: tried.append("torchvision"))
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))

    def no_package(root):
        tried.append("package")
        raise DataError("deb.debian.org did not answer")

    monkeypatch.setattr(provision, "OFFLINE_SOURCES", {"fashion_mnist": [
        ("installed", False, provision.fashion_mnist_from_debian), ("package file", True, no_package)]})
    with pytest.raises(DataError) as info:
        provision.fetch("fashion_mnist", tmp_path / "root", try_download=True)
    assert tried == ["torchvision", "package"]
    assert "torchvision's download failed" in str(info.value) and "did not answer" in str(info.value)


# ------------------------------------------------------------------ the real data sets

@needs_mnist
def test_provisioned_mnist_is_the_real_one():
    assert all(provision.verify("mnist").values())
    x, y = data.load_tensors("mnist", True)
    xt, yt = data.load_tensors("mnist", False)
    assert len(x) == 60000 and len(xt) == 10000
    assert y[:5].tolist() == [5, 0, 4, 1, 9]
    mean, std = data.compute_stats(x)
    spec = data.get_spec("mnist")
    assert abs(mean[0] - spec.mean[0]) < 1e-4 and abs(std[0] - spec.std[0]) < 1e-4


@pytest.mark.skipif(not data.is_available("fashion_mnist"), reason="Fashion-MNIST not provisioned")
def test_provisioned_fashion_mnist_stats_match_registry():
    assert all(provision.verify("fashion_mnist").values())
    x, y = data.load_tensors("fashion_mnist", True)
    assert len(x) == 60000 and y[:5].tolist() == [9, 0, 0, 3, 0]
    mean, std = data.compute_stats(x)
    spec = data.get_spec("fashion_mnist")
    assert abs(mean[0] - spec.mean[0]) < 1e-4 and abs(std[0] - spec.std[0]) < 1e-4

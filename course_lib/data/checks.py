"""Every file the course reads is checked before use; each problem is one DataError naming the file and what
to do. Also: the state `data list` shows (ready, missing, corrupted), the write check a fetch makes before
spending any work, and the clean-up of what an interrupted fetch left behind (temporary files, folders
standing where files belong).
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from filelock import FileLock, Timeout

from ..errors import DataError
from ..paths import data_root
from .registry import DatasetSpec, missing_error

FETCH_LOCK_TIMEOUT_S = 1800.0  # a second `data fetch` waits this long for the first one to finish


def _fetch_hint(spec: DatasetSpec) -> str:
    return f"run `python -m course_lib data fetch {spec.name}`"


def check_root(root: Path) -> Path:
    """`root`, refused when it exists and is not a folder (COURSE_DATA pointing at a file)."""
    if root.exists() and not root.is_dir():
        raise DataError(f"the data root is a file, not a folder ({root}): point COURSE_DATA (or --root, "
                        "--data-root) at a folder, or unset COURSE_DATA to use the course's data/ folder")
    return root


def check_file(path: Path, spec: DatasetSpec, root: Path) -> None:
    """A data file that can be read: not missing, not a dangling link, not a folder, readable."""
    if path.is_symlink() and not path.exists():
        raise DataError(f"{spec.name}: {path} is a link to {os.readlink(path)}, which does not exist: remove the "
                        f"link (or restore its target), then {_fetch_hint(spec)}")
    if not path.exists():
        raise missing_error(spec, root, path)
    if path.is_dir():
        raise DataError(f"{spec.name}: {path} is a folder where a data file should be: {_fetch_hint(spec)} "
                        "(it moves the folder aside and fetches the file)")
    if not path.is_file():
        raise DataError(f"{spec.name}: {path} is not a regular file: remove it, then {_fetch_hint(spec)}")
    if not os.access(path, os.R_OK):
        raise DataError(f"{spec.name}: {path} cannot be read (permission denied): fix its permissions "
                        f"(chmod a+r {path})")


def check_split(images: torch.Tensor, labels: torch.Tensor, spec: DatasetSpec, images_at: Path,
                labels_at: Path) -> None:
    """Images (N, C, H, W) of the spec's shape and as many labels in 0..K-1, else a DataError naming the file."""
    if tuple(images.shape[1:]) != tuple(spec.input_shape):
        raise DataError(f"{images_at}: images of shape {tuple(images.shape[1:])}, but {spec.name} has "
                        f"{tuple(spec.input_shape)}: the files are not {spec.name}'s; {_fetch_hint(spec)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{labels_at}: {len(images)} images but labels of shape {tuple(labels.shape)}: the label "
                        f"file is corrupted; {_fetch_hint(spec)} to fetch it again")
    if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= spec.num_classes):
        raise DataError(f"{labels_at}: labels run from {int(labels.min())} to {int(labels.max())}, but "
                        f"{spec.name} has classes 0..{spec.num_classes - 1}: the label file is corrupted; "
                        f"{_fetch_hint(spec)}")


def check_writable(folder: Path) -> None:
    """Write (and remove) a small file in `folder`, or in its nearest existing parent, so an unwritable place
    is found before any download; nothing is left behind."""
    place = folder
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        if not place.is_dir():
            raise NotADirectoryError(20, f"{place} is a file, not a folder")
        with tempfile.TemporaryFile(dir=place):
            pass
    except OSError as exc:
        raise DataError(f"cannot write to the data folder ({folder}: {exc.strerror or exc}): choose a folder you "
                        "can write with COURSE_DATA=... (or --root), or fix its permissions") from None


def prepare_fetch(spec: DatasetSpec, root: Path) -> list[str]:
    """Before a fetch spends any work (holding the fetch lock): the data set's folder can be written; what
    an interrupted fetch left is removed; folders and dangling links standing where files belong are moved
    aside. Returns notes."""
    check_root(root)
    check_writable(root / spec.folder)
    notes = [f"removed {p}, left by an interrupted fetch" for p in clean_temporaries(root, spec)]
    return notes + set_aside_misplaced(spec, root)


def set_aside_misplaced(spec: DatasetSpec, root: Path) -> list[str]:
    """Move folders and dangling links standing where `spec`'s files belong to `<name>.corrupt-<time>`."""
    notes = []
    for file in spec.all_files:
        path = root / spec.folder / file.name
        if path.is_dir() or (path.is_symlink() and not path.exists()):
            target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(path, target)
            notes.append(f"{path} was a {'folder' if target.is_dir() else 'dangling link'}: moved to {target.name}")
    return notes


def clean_temporaries(root: Path, spec: DatasetSpec) -> list[Path]:
    """Remove what interrupted fetches left (atomic writes' `.*.tmp`, `downloads/.debian-*`, `.mnist-*`);
    call it holding the fetch lock, so no other fetch is writing them."""
    candidates = list((root / spec.folder).rglob(".*.tmp")) if (root / spec.folder).is_dir() else []
    if (root / "downloads").is_dir():
        candidates += [p for p in (root / "downloads").iterdir() if p.name.startswith(".")]
    for path in candidates:
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return candidates


def holding_fetch_lock(fetch: Callable[..., str]) -> Callable[..., str]:
    """Decorator: run `fetch(name, root, ...)` alone (a file lock in the data root, FETCH_LOCK_TIMEOUT_S),
    after checking that the root is a folder that can be written."""

    @functools.wraps(fetch)
    def locked(name: str, root: str | os.PathLike | None = None, *args: Any, **kwargs: Any) -> str:
        where = check_root(data_root(root))
        check_writable(where)
        where.mkdir(parents=True, exist_ok=True)
        lock = FileLock(where / ".fetch.lock")
        try:
            lock.acquire(timeout=FETCH_LOCK_TIMEOUT_S)
        except Timeout:
            raise DataError(f"another `data fetch` has held {lock.lock_file} for over {FETCH_LOCK_TIMEOUT_S:g} s: "
                            "let it finish (or stop it), then fetch again") from None
        try:
            return fetch(name, root, *args, **kwargs)
        finally:
            lock.release()

    return locked

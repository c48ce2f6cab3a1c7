"""Every file the course reads is checked before use; each problem is one DataError naming the file and what
to do. Also: the state `data list` shows (ready, missing, corrupted), the write check a fetch makes before
spending any work, and the clean-up of what an interrupted fetch left behind (temporary files, folders
standing where files belong).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..errors import DataError
from .registry import DatasetSpec, missing_error

STALE_AFTER_S = 600  # a temporary file of a fetch untouched this long was left by an interrupted run


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
    """Before a fetch spends any work: the root is a folder and writable; what an interrupted fetch left is
    cleaned up; folders and dangling links standing where files belong are moved aside. Returns notes."""
    check_root(root)
    check_writable(root / spec.folder)
    notes = [f"removed {p}, left by an interrupted fetch" for p in clean_stale_temporaries(root, spec)]
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


def clean_stale_temporaries(root: Path, spec: DatasetSpec) -> list[Path]:
    """Remove what interrupted fetches left (atomic writes' `.*.tmp`, `downloads/.debian-*`...) once stale."""
    now, removed = time.time(), []
    candidates = list((root / spec.folder).rglob(".*.tmp")) if (root / spec.folder).is_dir() else []
    if (root / "downloads").is_dir():
        candidates += [p for p in (root / "downloads").iterdir() if p.name.startswith(".")]
    for path in candidates:
        try:
            if now - path.lstat().st_mtime < STALE_AFTER_S:
                continue  # perhaps another fetch at work right now
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            removed.append(path)
        except OSError:
            continue
    return removed

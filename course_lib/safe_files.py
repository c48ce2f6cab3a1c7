"""Reading untrusted data files safely: a pickle loader that only builds numpy arrays, IDX helpers.

`pickle.load` runs whatever code a file names; data sets shipped as pickles (CIFAR, the
classic mnist.pkl.gz) only need numpy arrays, lists, dicts, numbers and strings, so we allow
exactly the numpy globals that rebuild an array and refuse everything else.
"""
from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np

from .errors import DataError

try:  # numpy >= 2 moved the module; pickles written by numpy 1 still name the old path
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles from Python 3 store bytes
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")  # Python 2 pickles (CIFAR, mnist.pkl.gz)
        self.source = source

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: refusing to load '{module}.{name}': a data file may only contain "
                "numpy arrays, lists, dicts, numbers and strings. This file is not a genuine data "
                "file (it could run code); delete it and fetch the data set again."
            ) from None


def load_pickle_arrays_only(path: str | Path, gzipped: bool | None = None):
    """Unpickle `path` allowing only numpy arrays and plain Python containers."""
    path = Path(path)
    if gzipped is None:
        gzipped = path.suffix == ".gz"
    try:
        raw = gzip.open(path, "rb").read() if gzipped else path.read_bytes()
        return _ArraysOnlyUnpickler(io.BytesIO(raw), str(path)).load()
    except DataError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError) as exc:
        raise DataError(
            f"{path}: cannot read this pickle ({type(exc).__name__}: {exc}); the file is corrupted "
            "or truncated. Delete it and fetch the data set again."
        ) from exc


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; a normal file respects the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- IDX: the format of MNIST and Fashion-MNIST (big-endian header, then raw uint8) ----

def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array (N,) or (N,H,W) as an IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def check_idx_file(path: str | Path) -> tuple[int, ...]:
    """Check an uncompressed uint8 IDX file's header against its size; return its shape."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] != 0x08 or head[3] not in (1, 3):
            raise DataError(
                f"{path}: not a uint8 IDX file (bad magic number {head.hex() or 'empty'}). "
                "Delete it and run `python -m course_lib data fetch <dataset>` again."
            )
        ndim = head[3]
        dims = struct.unpack(f">{ndim}I", fh.read(4 * ndim))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        raise DataError(
            f"{path}: truncated or corrupted (header says shape {dims}, i.e. {expected} bytes, "
            f"but the file has {size}). Delete it and run `python -m course_lib data fetch <dataset>`."
        )
    return dims

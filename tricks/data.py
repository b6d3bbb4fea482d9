"""Datasets held in memory as tensors, and their long-tailed variants."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tricks.config import DataConfig

__all__ = [
    "DEBIAN_FASHION_MNIST",
    "DataBundle",
    "DataError",
    "bundle_info",
    "cache_path",
    "default_data_root",
    "load_bundle",
    "long_tailed_counts",
    "split_long_tailed",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataError(RuntimeError):
    """A dataset cannot be found or read; the message names what is missing."""


@dataclass
class DataBundle:
    """Train / validation / test images (uint8, ``N x C x H x W``) and labels, in memory."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    classes: list[str]
    mean: list[float]
    std: list[float]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def class_counts(self) -> list[int]:
        return torch.bincount(self.y_train, minlength=self.num_classes).tolist()

    def to(self, device: torch.device | str, test: bool = False) -> DataBundle:
        """The bundle with its training and validation splits on ``device``; the test split
        too when ``test`` (it is evaluated once, so the trainer moves it batch by batch)."""
        splits = ("x_train", "y_train", "x_val", "y_val") + (("x_test", "y_test") if test else ())
        moved = {k: getattr(self, k) for k in ("x_test", "y_test")}
        moved.update({k: getattr(self, k).to(device) for k in splits})
        return DataBundle(**moved, classes=self.classes, mean=self.mean, std=self.std)


def long_tailed_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> list[int]:
    """Images kept per class by the exponential profile ``n_max * ratio ** (-c / (C - 1))``.

    The profile of Cui et al. (CVPR 2019), https://arxiv.org/abs/1901.05555, and
    Cao et al., "LDAM" (NeurIPS 2019), https://arxiv.org/abs/1906.07413: class 0
    keeps ``n_max`` images, the last ``n_max / ratio`` (rounded down, at least 1).
    """
    if n_max < 1:
        raise ValueError(f"n_max must be >= 1, got {n_max=}")
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio=}")
    if num_classes == 1:
        return [n_max]
    return [
        max(1, int(n_max * imbalance_ratio ** (-c / (num_classes - 1)))) for c in range(num_classes)
    ]


def split_long_tailed(
    labels: Tensor,
    num_classes: int,
    imbalance_ratio: float,
    val_per_class: int,
    max_per_class: int = 0,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Carve a balanced validation split, then a long-tailed training subset from the rest.

    ``imbalance_ratio = 1`` keeps every remaining image of each class (capped at
    ``max_per_class`` when set), so data that is imbalanced already stays as it is.

    Returns:
        ``(train_indices, val_indices)`` into ``labels``; disjoint.

    Raises:
        DataError: A class has too few images for the validation split.
    """
    gen = torch.Generator().manual_seed(seed)
    per_class = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        per_class.append(idx[torch.randperm(len(idx), generator=gen)])
    smallest = min(len(idx) for idx in per_class)
    if smallest <= val_per_class:
        raise DataError(
            f"a class has only {smallest} training images; "
            f"val_per_class={val_per_class} leaves none for training"
        )
    n_max = smallest - val_per_class
    if max_per_class:
        n_max = min(n_max, max_per_class)
    if imbalance_ratio == 1:
        # No profile to impose: keep every remaining image (a user's own imbalance survives).
        cap = max_per_class or None
        counts = [len(idx[val_per_class:][:cap]) for idx in per_class]
    else:
        counts = long_tailed_counts(n_max, num_classes, imbalance_ratio)
    val = torch.cat([idx[:val_per_class] for idx in per_class])
    train = torch.cat(
        [idx[val_per_class : val_per_class + n] for idx, n in zip(per_class, counts, strict=True)]
    )
    return train, val


def _take_per_class(labels: Tensor, num_classes: int, n: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed + 1)
    keep = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        keep.append(idx[torch.randperm(len(idx), generator=gen)][:n])
    return torch.cat(keep)


def default_data_root() -> Path:
    """Where datasets are kept: ``$TRICKSEARCH_DATA`` or ``~/.cache/tricksearch/data``."""
    env = os.environ.get("TRICKSEARCH_DATA")
    return Path(env) if env else Path.home() / ".cache" / "tricksearch" / "data"


def _stage_idx(sources: list[Path], raw: Path) -> bool:
    """Copy (gunzipping) the four IDX files from the first source that has them all into ``raw``."""
    if all((raw / name).exists() for name in _IDX_FILES):
        return True
    for src in sources:
        found = {}
        for name in _IDX_FILES:
            for candidate in (src / name, src / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(_IDX_FILES):
            raw.mkdir(parents=True, exist_ok=True)
            for name, path in found.items():
                tmp = raw / f".{name}.{os.getpid()}.tmp"
                opener = gzip.open if path.suffix == ".gz" else open
                with opener(path, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
                tmp.replace(raw / name)
            return True
    return False


def _load_mnist_like(name: str, data_dir: str) -> tuple[Tensor, Tensor, Tensor, Tensor, list[str]]:
    from torchvision import datasets

    cls = datasets.FashionMNIST if name == "fashion_mnist" else datasets.MNIST
    folder = cls.__name__
    if data_dir:
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError(f"data directory {root} does not exist")
        ok = _stage_idx([root / folder / "raw", root / folder, root], root / folder / "raw")
        if not ok:
            raise DataError(
                f"{root} has no {folder} IDX files: expected {', '.join(_IDX_FILES)} "
                f"(optionally .gz) in {root}, {root / folder} or {root / folder / 'raw'}"
            )
    else:
        root = default_data_root()
        sources = [DEBIAN_FASHION_MNIST] if name == "fashion_mnist" else []
        if not _stage_idx(sources, root / folder / "raw"):
            try:
                cls(str(root), train=True, download=True)
            except Exception as exc:
                hint = " (apt-get install dataset-fashion-mnist)" if name == "fashion_mnist" else ""
                raise DataError(
                    f"{folder} not found in {root} and the download failed{hint}: {exc}"
                ) from None
    train = cls(str(root), train=True, download=False)
    test = cls(str(root), train=False, download=False)
    return (
        train.data[:, None],
        train.targets,
        test.data[:, None],
        test.targets,
        list(train.classes),
    )


def _load_cifar(name: str, data_dir: str) -> tuple[Tensor, Tensor, Tensor, Tensor, list[str]]:
    from torchvision import datasets

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    root = Path(data_dir) if data_dir else default_data_root()
    try:
        train = cls(str(root), train=True, download=not data_dir)
        test = cls(str(root), train=False, download=not data_dir)
    except Exception as exc:
        raise DataError(
            f"{name} not found in {root} (expected {cls.base_folder}/ from {cls.filename}): {exc}"
        ) from None

    def images(ds: datasets.CIFAR10) -> Tensor:
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()

    return (
        images(train),
        torch.tensor(train.targets),
        images(test),
        torch.tensor(test.targets),
        list(train.classes),
    )


def load_bundle(
    cfg: DataConfig, seed: int = 0, data_dir: str | None = None, cache: bool = True
) -> DataBundle:
    """Load ``cfg.dataset``, make it long-tailed and split it; everything stays on the CPU.

    The prepared bundle (splits, uint8 tensors, normalisation) is cached once under
    ``default_data_root() / "prepared"``, keyed by everything that defines it: the data
    config, the seed, the data folder and the size and modification time of every
    source file. A later call with the same key loads tensors instead of parsing and
    splitting the dataset again; any change makes a new key, so no stale entry is used.

    Args:
        cfg: The data section of a trick config.
        seed: Seed of the split (same seed, same images).
        data_dir: Overrides ``cfg.data_dir`` (a torchvision-style root).
        cache: Read and write the prepared-data cache.

    Raises:
        DataError: The files are missing or unreadable; the message names them.
    """
    data_dir = cfg.data_dir if data_dir is None else data_dir
    path = cache_path(cfg, seed, data_dir) if cache else None
    if path is not None and path.is_file():
        try:
            return _read_cached(path)
        except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError):
            pass  # a torn or foreign file: prepare the data again and overwrite it
    bundle = _prepare(cfg, seed, data_dir)
    if cache:
        _write_cached(cache_path(cfg, seed, data_dir), bundle)  # sources may be new now
    return bundle


def bundle_info(cfg: DataConfig, seed: int = 0, data_dir: str | None = None) -> dict[str, Any]:
    """Classes and training class counts of a bundle, without loading its tensors.

    Prepares and caches the bundle first if no cache entry exists, so workers
    started afterwards find it.

    Raises:
        DataError: As :func:`load_bundle`.
    """
    data_dir = cfg.data_dir if data_dir is None else data_dir
    path = cache_path(cfg, seed, data_dir)
    info = path.with_suffix(".json")
    if not info.is_file():
        load_bundle(cfg, seed, data_dir)
        info = cache_path(cfg, seed, data_dir).with_suffix(".json")
    return dict(json.loads(info.read_text()))


_CACHE_FORMAT = 2  # 2: the info JSON holds in_channels


def cache_path(cfg: DataConfig, seed: int, data_dir: str) -> Path:
    """Where the prepared bundle for ``(cfg, seed, data_dir)`` is cached (may not exist yet)."""
    root = Path(data_dir) if data_dir else default_data_root()
    files = sorted(p for p in _source_files(cfg.dataset, root) if p.is_file())
    key = {
        "format": _CACHE_FORMAT,
        "config": cfg.model_dump() | {"data_dir": str(root.resolve())},
        "seed": seed,
        "sources": [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files],
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return default_data_root() / "prepared" / f"{cfg.dataset}-{digest}.pt"


def _source_files(dataset: str, root: Path) -> list[Path]:
    if dataset in ("fashion_mnist", "mnist"):
        raw = root / ("FashionMNIST" if dataset == "fashion_mnist" else "MNIST") / "raw"
        return [raw / name for name in _IDX_FILES]
    if dataset in ("cifar10", "cifar100"):
        batches = root / ("cifar-10-batches-py" if dataset == "cifar10" else "cifar-100-python")
        return list(batches.glob("*")) if batches.is_dir() else []
    return list(root.rglob("*")) if root.is_dir() else []


_TENSORS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _write_cached(path: Path, bundle: DataBundle) -> None:
    """Write tensors and a small JSON of metadata, each atomically (rename into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: getattr(bundle, k) for k in _TENSORS}
    meta = {"classes": bundle.classes, "mean": bundle.mean, "std": bundle.std}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({**tensors, **meta}, tmp)
    tmp.replace(path)
    info = {
        "classes": bundle.classes,
        "class_counts": bundle.class_counts,
        "in_channels": bundle.in_channels,
    }
    tmp.write_text(json.dumps(info))
    tmp.replace(path.with_suffix(".json"))


def _read_cached(path: Path) -> DataBundle:
    raw = torch.load(path, weights_only=True)
    return DataBundle(
        **{k: raw[k] for k in _TENSORS},
        classes=list(raw["classes"]),
        mean=list(raw["mean"]),
        std=list(raw["std"]),
    )


def _prepare(cfg: DataConfig, seed: int, data_dir: str) -> DataBundle:
    """Read the dataset's files, carve the splits and compute the normalisation."""
    if cfg.dataset in ("fashion_mnist", "mnist"):
        x_tr, y_tr, x_te, y_te, classes = _load_mnist_like(cfg.dataset, data_dir)
    elif cfg.dataset in ("cifar10", "cifar100"):
        x_tr, y_tr, x_te, y_te, classes = _load_cifar(cfg.dataset, data_dir)
    else:  # image folders stream from disk: tricks.streaming
        raise DataError(f"{cfg.dataset!r} is not held in memory; use tricks.sources.load_data")
    y_tr, y_te = y_tr.long(), y_te.long()
    train_idx, val_idx = split_long_tailed(
        y_tr, len(classes), cfg.imbalance_ratio, cfg.val_per_class, cfg.max_per_class, seed
    )
    if cfg.test_per_class:
        test_idx = _take_per_class(y_te, len(classes), cfg.test_per_class, seed)
        x_te, y_te = x_te[test_idx], y_te[test_idx]
    x_train = x_tr[train_idx].contiguous()
    scaled = x_train.float() / 255
    mean = scaled.mean(dim=(0, 2, 3)).tolist()
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return DataBundle(
        x_train,
        y_tr[train_idx].contiguous(),
        x_tr[val_idx].contiguous(),
        y_tr[val_idx].contiguous(),
        x_te.contiguous(),
        y_te.contiguous(),
        classes,
        mean,
        std,
    )

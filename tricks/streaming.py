"""Data that is not held in memory as tensors: the user's Datasets, read through DataLoaders.

``[data] factory = "package.module:function"`` is called as ``function(split, augment,
**kwargs)`` for ``split`` in ``"train"``, ``"val"``, ``"test"``; it returns a map-style
:class:`torch.utils.data.Dataset` of ``(input, label)`` pairs with labels ``0 .. C-1``, or
``None`` for a split it does not have. Training reads ``("train", True)``; the no-aug
fine-tune reads ``("train", False)``, so the user's own augmentation is what it switches
off. No ``"val"``: ``val_per_class`` items of each class are carved from the training
set; no ``"test"``: no test metric. tricksearch adds no transform of its own: what the
dataset returns is what the model sees.

Image folders stream the same way, as uint8 images that the trainer augments and
normalises on the device, like the built-in in-memory datasets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from tricks.config import DataConfig
from tricks.cores import usable_cores
from tricks.data import DataError, split_long_tailed
from tricks.user_code import resolve_callable

__all__ = ["StreamData", "load_factory_data", "load_image_folder"]

SPLITS = ("train", "val", "test")


@dataclass
class StreamData:
    """Training, validation and test Datasets, read in batches through DataLoaders.

    Attributes:
        train: The training set as augmentation sees it; ``train_plain`` without it.
        test: ``None`` when the data has no test split.
        device_augment: Inputs are uint8 images that the trainer crops, flips and
            normalises with ``mean``/``std`` on the device (image folders); factory data
            comes as the model takes it.
    """

    train: Dataset[Any]
    train_plain: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any] | None
    classes: list[str]
    class_counts: list[int]
    in_channels: int = 0
    mean: list[float] | None = None
    std: list[float] | None = None
    loader_workers: int = -1

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        return len(self.train)  # type: ignore[arg-type]

    @property
    def device_augment(self) -> bool:
        return self.mean is not None

    def split(self, name: str, augment: bool = False) -> Dataset[Any] | None:
        """The Dataset of ``name``; ``"train"`` with or without augmentation."""
        if name == "train":
            return self.train if augment else self.train_plain
        return self.val if name == "val" else self.test

    def loader(
        self,
        dataset: Dataset[Any],
        batch_size: int,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> DataLoader[Any]:
        """Batches of ``dataset``, shuffled by ``generator`` when one is given.

        Worker processes (``data.loader_workers``; -1 = one per core this process may use
        beyond the first, at most 4) stay alive across epochs; on CUDA, batches are
        pinned so the copy to the device does not block.
        """
        workers = self.loader_workers
        if workers < 0:
            workers = min(4, usable_cores() - 1)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=device.type == "cuda",
        )


def iterate(loader: DataLoader[Any], device: torch.device) -> Iterator[tuple[Any, Tensor]]:
    """``(inputs, labels)`` of every batch on ``device`` (non-blocking from pinned memory)."""
    for x, y in loader:
        yield _to(x, device), y.to(device, non_blocking=True).long()


def _to(x: Any, device: torch.device) -> Any:
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_to(v, device) for v in x)
    return x


def _labels(ds: Dataset[Any], key: str) -> Tensor:
    """Every label of ``ds``: its ``targets`` attribute, else one pass over its items."""
    targets = getattr(ds, "targets", None)
    if targets is not None:
        return torch.as_tensor(targets).long().flatten()
    labels = []
    for i in range(len(ds)):  # type: ignore[arg-type]
        labels.append(_label_of(ds[i], key, i))
    return torch.tensor(labels, dtype=torch.long)


def _label_of(item: Any, key: str, index: int) -> int:
    if not isinstance(item, tuple | list) or len(item) != 2:
        raise DataError(f"{key}: item {index} is a {type(item).__name__}, not (input, label)")
    label = item[1]
    if isinstance(label, Tensor) and label.numel() == 1 and not label.is_floating_point():
        return int(label)
    if isinstance(label, int) and not isinstance(label, bool):
        return label
    raise DataError(f"{key}: item {index}'s label is {label!r}, not an integer class index")


def _check_split(ds: Any, key: str, num_classes: int | None) -> Tensor:
    """Labels of one split, after checking it is a map-style dataset of (input, label)."""
    if not hasattr(ds, "__getitem__") or not hasattr(ds, "__len__"):
        raise DataError(f"{key} returned a {type(ds).__name__}, not a map-style Dataset")
    if len(ds) == 0:
        raise DataError(f"{key} returned an empty dataset")
    _label_of(ds[0], key, 0)
    labels = _labels(ds, key)
    top = num_classes if num_classes is not None else int(labels.max()) + 1
    bad = labels[(labels < 0) | (labels >= top)]
    if len(bad):
        raise DataError(f"{key}: label {int(bad[0])} is outside 0 .. {top - 1}")
    return labels


def _call(cfg: DataConfig, split: str, augment: bool) -> Any:
    factory = resolve_callable(cfg.factory, "data.factory")
    try:
        return factory(split, augment, **cfg.kwargs)
    except Exception as exc:
        raise DataError(
            f"data.factory: {cfg.factory}({split!r}, {augment}) raised {type(exc).__name__}: {exc}"
        ) from None


def load_factory_data(cfg: DataConfig, seed: int = 0) -> StreamData:
    """The user's Datasets from ``data.factory``, checked and split.

    Raises:
        ConfigError: The factory path does not import or is not callable.
        DataError: The factory raises, returns no Dataset, or items are not ``(input,
            label)`` with labels in ``0 .. C-1``; the message names ``data.factory``.
    """
    key = f"data.factory {cfg.factory}"
    train, plain = _call(cfg, "train", True), _call(cfg, "train", False)
    if train is None:
        raise DataError(f"{key} returned None for 'train'; a training set is required")
    names = getattr(train, "classes", None)
    known = len(names) if names else None
    labels = _check_split(train, f"{key} ('train')", known)
    _check_split(plain, f"{key} ('train', augment=False)", known)
    num_classes = known or int(labels.max()) + 1
    classes = [str(c) for c in names] if names else [str(c) for c in range(num_classes)]
    val, test = _call(cfg, "val", False), _call(cfg, "test", False)
    for name, ds in (("val", val), ("test", test)):
        if ds is not None:
            _check_split(ds, f"{key} ({name!r})", num_classes)
    if val is None:
        train_idx, val_idx = split_long_tailed(labels, num_classes, 1, cfg.val_per_class, 0, seed)
        val = Subset(plain, val_idx.tolist())
        train, plain = Subset(train, train_idx.tolist()), Subset(plain, train_idx.tolist())
        labels = labels[train_idx]
    counts = torch.bincount(labels, minlength=num_classes).tolist()
    first = _first_input(plain)
    channels = int(first.shape[0]) if isinstance(first, Tensor) and first.dim() == 3 else 0
    return StreamData(
        train, plain, val, test, classes, counts, channels, loader_workers=cfg.loader_workers
    )


def _first_input(ds: Dataset[Any]) -> Any:
    return ds[0][0]


class _RGBImages(Dataset[tuple[Tensor, int]]):
    """An image folder's images as uint8 ``3 x S x S`` tensors, decoded when read."""

    def __init__(self, root: Path, size: int) -> None:
        from torchvision import datasets, transforms

        tf = transforms.Compose([transforms.Resize((size, size)), transforms.PILToTensor()])
        self.folder = datasets.ImageFolder(str(root), transform=tf)
        self.targets = self.folder.targets
        self.classes = self.folder.classes

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x, y = self.folder[i]
        return (x[:3] if x.shape[0] >= 3 else x.expand(3, -1, -1)), y


def load_image_folder(cfg: DataConfig, seed: int, data_dir: str) -> StreamData:
    """``DIR/train/<class>/*`` (and, if present, ``DIR/test/<class>/*``), read from disk.

    The validation split is carved from ``train/`` per class and the long-tailed profile
    applied as for the built-in datasets; ``mean``/``std`` come from up to 2,000 training
    images.

    Raises:
        DataError: No ``train/`` folder, or ``test/`` holds other classes.
    """
    root = Path(data_dir)
    if not data_dir or not (root / "train").is_dir():
        raise DataError(
            f"image_folder needs --data-dir with train/ class folders, got {data_dir!r}"
        )
    train = _RGBImages(root / "train", cfg.image_size)
    test = _RGBImages(root / "test", cfg.image_size) if (root / "test").is_dir() else None
    if test is not None and test.classes != train.classes:
        raise DataError(
            f"train/ and test/ hold different classes: {train.classes} vs {test.classes}"
        )
    labels = torch.tensor(train.targets)
    train_idx, val_idx = split_long_tailed(
        labels,
        len(train.classes),
        cfg.imbalance_ratio,
        cfg.val_per_class,
        cfg.max_per_class,
        seed,
    )
    every = train_idx[:: max(1, len(train_idx) // 2000)]  # spread over all classes
    sample = torch.stack([train[int(i)][0] for i in every]).float() / 255
    counts = torch.bincount(labels[train_idx], minlength=len(train.classes)).tolist()
    subset = Subset(train, train_idx.tolist())
    return StreamData(
        subset,
        subset,
        Subset(train, val_idx.tolist()),
        test,
        list(train.classes),
        counts,
        3,
        sample.mean(dim=(0, 2, 3)).tolist(),
        sample.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist(),
        cfg.loader_workers,
    )

"""A user package, as tricksearch sees one: a model factory and a data factory.

Non-image inputs: each Fashion-MNIST image is flattened into a vector of 784 float
features, and a multi-layer perceptron classifies it. Nothing here imports tricksearch;
the study file names the two functions:

    [model] factory = "fmnist_features:mlp"
    [data]  factory = "fmnist_features:features"
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]  # fmt: skip
DEFAULT_ROOT = os.environ.get("FMNIST_ROOT", "/usr/share/datasets/fashion-mnist")


def mlp(num_classes: int, hidden: int = 256, depth: int = 2, dropout: float = 0.1) -> nn.Module:
    """The model factory: ``depth`` hidden layers of ``hidden`` units over 784 features."""
    layers: list[nn.Module] = []
    width = 784
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _load(root: str, prefix: str) -> tuple[Tensor, Tensor]:
    folder = Path(root)

    def find(name: str) -> Path:
        gz = folder / f"{name}.gz"
        return gz if gz.exists() else folder / name

    images = _read_idx(find(f"{prefix}-images-idx3-ubyte"))
    labels = _read_idx(find(f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255)
    return (x - 0.286) / 0.353, torch.from_numpy(labels.astype(np.int64))


class Features(Dataset[tuple[Tensor, int]]):
    """Feature vectors and labels; ``noise`` > 0 augments with Gaussian noise."""

    def __init__(self, x: Tensor, y: Tensor, noise: float = 0.0) -> None:
        self.x, self.targets, self.noise = x, y, noise
        self.classes = CLASSES

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return x, int(self.targets[i])


def _long_tailed(y: Tensor, head: int, ratio: float, seed: int) -> Tensor:
    """Indices keeping ``head * ratio ** (-c / 9)`` items of class ``c``."""
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for c in range(10):
        idx = torch.nonzero(y == c).flatten()
        n = max(1, int(head * ratio ** (-c / 9)))
        keep.append(idx[torch.randperm(len(idx), generator=gen)][:n])
    return torch.cat(keep)


def features(
    split: str,
    augment: bool,
    root: str = DEFAULT_ROOT,
    head: int = 3000,
    ratio: float = 100.0,
    val_per_class: int = 300,
    test_per_class: int = 0,
    noise: float = 0.3,
    seed: int = 0,
) -> Dataset | None:
    """The data factory: a long-tailed training set, balanced validation and test sets.

    Validation takes ``val_per_class`` of each class from the training images the long
    tail left out (``val_per_class = 0``: return ``None``, and tricksearch carves its
    ``[data] val_per_class`` from the training set instead). ``augment`` turns the
    feature noise on.
    """
    x, y = _load(root, "t10k" if split == "test" else "train")
    if split == "test":
        return Features(*_per_class(x, y, test_per_class)) if test_per_class else Features(x, y)
    keep = _long_tailed(y, head, ratio, seed)
    if split == "train":
        return Features(x[keep], y[keep], noise if augment else 0.0)
    if not val_per_class:
        return None
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[keep] = False
    return Features(*_per_class(x[rest], y[rest], val_per_class))


def _per_class(x: Tensor, y: Tensor, n: int) -> tuple[Tensor, Tensor]:
    keep = torch.cat([torch.nonzero(y == c).flatten()[:n] for c in range(10)])
    return x[keep], y[keep]

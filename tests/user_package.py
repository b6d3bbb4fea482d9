"""A user package written into a folder outside the repository, as a user's code would be.

``tsuser`` holds model and data factories, good and bad, for the tests of
``[model] factory`` and ``[data] factory``; nothing in it imports tricksearch.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = '''
import os
import torch
from torch import nn
from torch.utils.data import Dataset

CLASSES = [f"c{i}" for i in range(4)]


def mlp(num_classes, hidden=16):
    return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def conv(num_classes):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, num_classes),
    )


def not_a_module(num_classes):
    return 3


NOT_CALLABLE = 3


def flaky(num_classes, hidden=16):
    """Builds once per process (the pre-check), then raises: fails inside every trial."""
    global _BUILT
    if globals().get("_BUILT"):
        raise RuntimeError("out of GPU memory, as it were")
    _BUILT = True
    return mlp(num_classes, hidden)


class Vectors(Dataset):
    """Class c: 8 features around c, noise added when augmenting; long-tailed counts."""

    def __init__(self, counts, seed, noise=0.0, labels_attr=True):
        gen = torch.Generator().manual_seed(seed)
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        self.x = y.float().view(-1, 1) + 0.5 * torch.randn(len(y), 8, generator=gen)
        self.y, self.noise = y, noise
        if labels_attr:
            self.targets = y.tolist()
            self.classes = CLASSES

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return x, int(self.y[i])


def vectors(split, augment, head=80, val=True, test=True, labels_attr=True):
    counts = [head, head // 2, head // 4, head // 8]
    if split == "train":
        return Vectors(counts, 0, 0.3 if augment else 0.0, labels_attr)
    if split == "val":
        return Vectors([20] * 4, 1, labels_attr=labels_attr) if val else None
    return Vectors([20] * 4, 2, labels_attr=labels_attr) if test else None


def images(split, augment):
    ds = vectors(split, augment)
    if ds is None:
        return None
    ds.x = ds.x[:, :1, None, None].expand(-1, 1, 6, 6).contiguous()
    return ds


def bad_labels(split, augment):
    ds = Vectors([10, 10, 10, 10], 0)
    ds.y = ds.y + 3  # 3 .. 6, with four classes named
    ds.targets = ds.y.tolist()
    return ds


class Bare(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.zeros(8)


def not_pairs(split, augment):
    return Bare()


def not_a_dataset(split, augment):
    return 5


def raises(split, augment):
    raise OSError("no such bucket")
'''


def write_user_package(folder: Path) -> Path:
    """Write ``folder/tsuser/__init__.py``; returns ``folder`` (put it on PYTHONPATH)."""
    package = folder / "tsuser"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SOURCE)
    return folder

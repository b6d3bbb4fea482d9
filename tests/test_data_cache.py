"""The prepared-data cache: loaded as tensors, keyed by everything that defines a bundle."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
import torch

from tricks.config import DataConfig
from tricks.data import bundle_info, cache_path, load_bundle


def write_idx(folder: Path, per_class: int, seed: int) -> None:
    """A small Fashion-MNIST in the real IDX format: 10 classes of random 28x28 images."""
    gen = torch.Generator().manual_seed(seed)
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", per_class), ("t10k", per_class // 2)):
        labels = torch.arange(10).repeat_interleave(n).to(torch.uint8)
        images = torch.randint(0, 256, (len(labels), 28, 28), generator=gen, dtype=torch.uint8)
        header = struct.pack(">IIII", 0x803, len(labels), 28, 28)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.numpy().tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 0x801, len(labels)) + labels.numpy().tobytes()
        )


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("TRICKSEARCH_DATA", str(tmp_path / "cache"))
    write_idx(tmp_path / "data", per_class=40, seed=0)
    return tmp_path / "data"


def test_second_load_comes_from_the_cache(fake_root: Path) -> None:
    cfg = DataConfig(imbalance_ratio=4.0, val_per_class=10, data_dir=str(fake_root))
    first = load_bundle(cfg, seed=1)
    path = cache_path(cfg, 1, str(fake_root))
    assert path.is_file() and path.with_suffix(".json").is_file()
    second = load_bundle(cfg, seed=1)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert (first.classes, first.mean, first.std) == (second.classes, second.mean, second.std)
    info = bundle_info(cfg, seed=1)
    assert info == {
        "classes": first.classes,
        "class_counts": first.class_counts,
        "in_channels": first.in_channels,
    }


def test_a_changed_config_or_source_never_reuses_a_stale_entry(fake_root: Path) -> None:
    cfg = DataConfig(imbalance_ratio=4.0, val_per_class=10, data_dir=str(fake_root))
    base = load_bundle(cfg, seed=0)
    key = cache_path(cfg, 0, str(fake_root))
    # Another split seed, another profile, another validation size: each its own entry.
    for other_cfg, seed in (
        (cfg, 1),
        (DataConfig(imbalance_ratio=2.0, val_per_class=10, data_dir=str(fake_root)), 0),
        (DataConfig(imbalance_ratio=4.0, val_per_class=12, data_dir=str(fake_root)), 0),
    ):
        assert cache_path(other_cfg, seed, str(fake_root)) != key
        other = load_bundle(other_cfg, seed=seed)
        assert not torch.equal(other.y_train, base.y_train) or not torch.equal(
            other.x_train, base.x_train
        )
    # New files under the same names: the cached bundle of the old ones is not used.
    write_idx(fake_root, per_class=40, seed=7)
    images = fake_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"
    os.utime(images, ns=(1, 1))  # even a size-preserving rewrite changes the key
    assert cache_path(cfg, 0, str(fake_root)) != key
    fresh = load_bundle(cfg, seed=0)
    assert not torch.equal(fresh.x_train, base.x_train)


def test_a_torn_cache_file_is_rebuilt(fake_root: Path) -> None:
    cfg = DataConfig(imbalance_ratio=4.0, val_per_class=10, data_dir=str(fake_root))
    good = load_bundle(cfg)
    path = cache_path(cfg, 0, str(fake_root))
    path.write_bytes(b"not a torch file")
    again = load_bundle(cfg)
    assert torch.equal(again.x_train, good.x_train)
    assert torch.load(path, weights_only=True)["x_train"].shape == good.x_train.shape

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tricks.config import DataConfig
from tricks.data import DataError, load_bundle, long_tailed_counts, split_long_tailed


def test_long_tailed_counts_ratio_100() -> None:
    counts = long_tailed_counts(5000, 10, 100.0)
    assert counts[0] == 5000 and counts[-1] == 50
    assert counts == [int(5000 * 100 ** (-c / 9)) for c in range(10)]
    assert counts == sorted(counts, reverse=True)
    assert long_tailed_counts(6000, 10, 1.0) == [6000] * 10


def test_split_is_disjoint_balanced_and_long_tailed() -> None:
    labels = torch.arange(10).repeat_interleave(600)
    train, val = split_long_tailed(labels, 10, 100.0, val_per_class=100, seed=3)
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert torch.bincount(labels[val], minlength=10).tolist() == [100] * 10
    assert torch.bincount(labels[train], minlength=10).tolist() == long_tailed_counts(500, 10, 100)
    with pytest.raises(DataError, match="val_per_class"):
        split_long_tailed(labels, 10, 100.0, val_per_class=600)


def test_fashion_mnist_lt_from_debian_files(tiny_data) -> None:
    assert tiny_data.classes[0] == "T-shirt/top" and tiny_data.num_classes == 10
    assert tiny_data.class_counts == long_tailed_counts(200, 10, 10.0)
    assert tiny_data.x_train.dtype == torch.uint8 and tiny_data.x_train.shape[1:] == (1, 28, 28)
    assert torch.bincount(tiny_data.y_val).tolist() == [50] * 10
    assert torch.bincount(tiny_data.y_test).tolist() == [50] * 10


def test_val_and_test_never_overlap_training() -> None:
    cfg = DataConfig(max_per_class=300, val_per_class=100)
    data = load_bundle(cfg, seed=0)
    train = {bytes(x.numpy()) for x in data.x_train}
    val = [bytes(x.numpy()) for x in data.x_val]
    assert not train.intersection(val)
    # The test split is the official t10k file, never carved from training images.
    assert len(data.y_test) == 10000


def test_data_dir_without_files_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no FashionMNIST IDX files"):
        load_bundle(DataConfig(data_dir=str(tmp_path)))
    with pytest.raises(DataError, match="does not exist"):
        load_bundle(DataConfig(data_dir=str(tmp_path / "missing")))


def test_ratio_one_keeps_an_existing_imbalance() -> None:
    labels = torch.tensor([0] * 100 + [1] * 30)
    train, val = split_long_tailed(labels, 2, 1.0, val_per_class=10)
    assert torch.bincount(labels[train]).tolist() == [90, 20]
    assert torch.bincount(labels[val]).tolist() == [10, 10]

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tricks.config import DataConfig, TrickConfig
from tricks.data import DataError, load_bundle
from tricks.models import ResNet32, build_model
from tricks.sources import load_data
from tricks.streaming import StreamData
from tricks.trainer import Trainer


@pytest.mark.parametrize(
    ("name", "channels", "size"), [("small_cnn", 1, 28), ("resnet32", 3, 32), ("resnet18", 1, 32)]
)
def test_models_map_images_to_class_logits(name: str, channels: int, size: int) -> None:
    model = build_model(name, channels, 7).eval()
    with torch.no_grad():
        assert model(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_resnet32_has_the_published_depth() -> None:
    model = ResNet32(3, 10)
    convs = [
        m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)
    ]
    assert len(convs) + 1 == 32  # 31 3x3 convolutions + the linear head
    assert 0.45e6 < sum(p.numel() for p in model.parameters()) < 0.48e6


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"small_cnn, resnet32 or a torchvision\.models name"):
        build_model("resnet9000", 3, 10)


def _image_folder(root: Path, splits: dict[str, dict[str, int]]) -> None:
    from PIL import Image

    for split, counts in splits.items():
        for cls, n in counts.items():
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                color = (200, 10, 10) if cls == "cat" else (10, 10, 200)
                Image.new("RGB", (20 + i, 24), color).save(folder / f"{i}.png")


def test_image_folder_streams_a_users_own_imbalanced_images(tmp_path: Path) -> None:
    _image_folder(tmp_path, {"train": {"cat": 12, "dog": 5}, "test": {"cat": 3, "dog": 3}})
    cfg = DataConfig(
        dataset="image_folder",
        data_dir=str(tmp_path),
        image_size=16,
        imbalance_ratio=1.0,
        val_per_class=2,
    )
    data = load_data(cfg)
    assert isinstance(data, StreamData) and data.device_augment  # read from disk per batch
    assert data.classes == ["cat", "dog"]
    assert data.class_counts == [10, 3]  # the imbalance is kept
    x, _ = data.train[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.uint8
    assert len(data.test) == 6 and len(data.val) == 4


def test_an_image_folder_without_test_trains_without_a_test_metric(tmp_path: Path) -> None:
    _image_folder(tmp_path, {"train": {"cat": 12, "dog": 5}})
    config = TrickConfig.from_dict(
        {
            "data": {
                "dataset": "image_folder",
                "data_dir": str(tmp_path),
                "image_size": 16,
                "imbalance_ratio": 1.0,
                "val_per_class": 2,
                "loader_workers": 0,
            },
            "train": {"epochs": 1, "batch_size": 4},
            "finetune": {"epochs": 1},
        }
    )
    trainer = Trainer(config, load_data(config.data))
    result = trainer.fit()
    assert not trainer.has_test
    assert 0 <= result.value <= 1 and len(result.history) == 2


def test_missing_cifar_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cifar10 not found in .*cifar-10-batches-py"):
        load_bundle(DataConfig(dataset="cifar10", data_dir=str(tmp_path)))
    with pytest.raises(DataError, match=r"image_folder needs --data-dir with train/ class"):
        load_data(DataConfig(dataset="image_folder", data_dir=str(tmp_path)))

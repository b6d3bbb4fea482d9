"""Where a run's data comes from: in-memory tensors or streamed Datasets, picked by the config."""

from __future__ import annotations

from typing import Any

from tricks.config import DataConfig
from tricks.data import DataBundle, bundle_info, load_bundle
from tricks.streaming import StreamData, load_factory_data, load_image_folder

__all__ = ["Data", "data_info", "load_data"]

#: What the trainer reads: the built-in datasets in memory, anything else streamed.
Data = DataBundle | StreamData


def load_data(cfg: DataConfig, seed: int = 0, data_dir: str | None = None) -> Data:
    """The data ``cfg`` names: the user's factory, an image folder, or a built-in dataset.

    Raises:
        ConfigError: ``data.factory`` does not import or is not callable.
        DataError: The data cannot be found or read, or is not ``(input, label)`` pairs.
    """
    data_dir = cfg.data_dir if data_dir is None else data_dir
    if cfg.factory:
        return load_factory_data(cfg, seed)
    if cfg.dataset == "image_folder":
        return load_image_folder(cfg, seed, data_dir)
    return load_bundle(cfg, seed=seed, data_dir=data_dir)


def data_info(cfg: DataConfig, seed: int = 0, data_dir: str | None = None) -> dict[str, Any]:
    """Classes and training class counts, checking the data once before a study starts.

    Built-in datasets are prepared and cached here (so workers find them); streamed data
    is opened and its labels checked.
    """
    if cfg.streamed:
        data = load_data(cfg, seed, data_dir)
        return {
            "classes": data.classes,
            "class_counts": data.class_counts,
            "in_channels": data.in_channels,
        }
    return bundle_info(cfg, seed=seed, data_dir=data_dir)

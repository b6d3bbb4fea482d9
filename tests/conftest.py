"""Shared fixtures: a tiny real Fashion-MNIST-LT bundle and the CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tricks.config import TrickConfig
from tricks.data import DataBundle, load_bundle

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(2)


def tiny_config(**sections: dict) -> TrickConfig:
    """A config small enough for a test: 200 head images, ratio 10, 50 val per class."""
    raw = {
        "data": {
            "max_per_class": 200,
            "imbalance_ratio": 10.0,
            "val_per_class": 50,
            "test_per_class": 50,
        },
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.05},
        "finetune": {"epochs": 1},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return TrickConfig.from_dict(raw)


@pytest.fixture(scope="session")
def tiny_data() -> DataBundle:
    cfg = tiny_config()
    return load_bundle(cfg.data, seed=0)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``tricksearch`` console entry point in a subprocess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "search.cli", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


@pytest.fixture
def cli():
    return run_cli

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, run_cli

TINY = [
    "--set",
    "data.max_per_class=200",
    "--set",
    "data.val_per_class=50",
    "--set",
    "data.test_per_class=30",
    "--set",
    "train.epochs=1",
    "--set",
    "finetune.epochs=1",
    "--set",
    "schedule.warmup_steps=5",
]


def test_train_writes_metrics_and_weights(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "train",
        str(ROOT / "examples/fashion_mnist_lt.toml"),
        "--device",
        "cpu",
        "--output",
        str(out),
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no-aug fine-tune" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) >= {
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "per_class_accuracy",
    }
    assert len(metrics["test"]["per_class_accuracy"]) == 10
    assert metrics["value"] == metrics["history"][-1]["value"]
    state = torch.load(out / "model.pt", weights_only=True)
    assert any(k.endswith("weight") for k in state)
    assert (out / "config.toml").read_text().count("[train]") == 1


def test_train_epochs_stretches_the_config(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--device", "cpu", "--output", str(out), *TINY, "--epochs", "2"]
    proc = run_cli("train", str(ROOT / "examples/fashion_mnist_lt.toml"), *args)
    assert proc.returncode == 0, proc.stderr
    assert "stretched from 1 to 2 epochs" in proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["phase"] for h in metrics["history"]] == ["train", "train", "finetune"]
    written = (out / "config.toml").read_text()
    assert "epochs = 2" in written and "warmup_steps = 10" in written
    assert "stretched_from_epochs = 1" in written


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [str(d / "missing.toml")], "cannot read config file"),
        (lambda d: [_write(d, "[train\nepochs=1")], "invalid TOML"),
        (lambda d: [_write(d, "[train]\nepochz = 1\n")], "train.epochz: unknown key"),
        (lambda d: [_write(d, "[train]\nepochs = 'x'\n")], "train.epochs: expected an integer"),
        (lambda d: [_write(d, "[train]\nlr = -1\n")], "train.lr: must be > 0.0, got -1"),
        (lambda d: [_write(d, ""), "--set", "train.epochs"], "--set expects section.key=value"),
        (lambda d: [_write(d, ""), "--device", "tpu"], "unknown device 'tpu'"),
        (lambda d: [_write(d, ""), "--data-dir", str(d)], "no FashionMNIST IDX files"),
        (lambda d: [_write(d, "[loss]\nkind = 'hinge'\n")], "loss.kind: unknown value 'hinge'"),
        (lambda d: [_write(d, ""), "--epochs", "0"], "--epochs must be >= 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, tmp_path: Path, make, message: str) -> None:
    proc = cli("train", *make(tmp_path), "--output", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def _write(directory: Path, text: str) -> str:
    path = directory / "cfg.toml"
    path.write_text(text)
    return str(path)

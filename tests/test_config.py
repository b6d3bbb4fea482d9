from __future__ import annotations

from pathlib import Path

import pytest

from tricks.config import ConfigError, TrickConfig, apply_overrides, parse_override

ROOT = Path(__file__).resolve().parents[1]


def test_example_config_round_trips_losslessly(tmp_path: Path) -> None:
    cfg = TrickConfig.load(ROOT / "examples" / "fashion_mnist_lt.toml")
    cfg.restart.replay = [{"epoch": 3, "reason": "pruned"}]
    cfg.provenance = {"study": "s", "trial": 4, "value": 0.123456789012345}
    path = tmp_path / "c.toml"
    cfg.save(path)
    again = TrickConfig.load(path)
    assert again == cfg
    assert again.to_toml() == cfg.to_toml()
    assert isinstance(again.train.lr, float) and isinstance(again.train.epochs, int)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"loss": {"gama": 2.0}}, "loss.gama"),
        ({"lossy": {}}, "lossy"),
        ({"train": {"epochs": "ten"}}, "train.epochs"),
        ({"train": {"epochs": 2.5}}, "train.epochs"),
        ({"train": {"augment": 1}}, "train.augment"),
        ({"train": {"lr": 0.0}}, "train.lr"),
        ({"loss": {"focal_gamma": -1.0}}, "loss.focal_gamma"),
        ({"loss": {"focal_alpha": 1.5}}, "loss.focal_alpha"),
        ({"loss": {"kind": "hinge"}}, "loss.kind"),
        ({"schedule": {"warmup_steps": 100, "phase_steps": 50}}, "schedule.phase_steps"),
        ({"data": {"imbalance_ratio": 0.5}}, "data.imbalance_ratio"),
        ({"data": {"dataset": "imagenet"}}, "data.dataset"),
        ({"model": {"name": "resnet9000"}}, "model.name"),
        ({"restart": {"replay": [{"epoch": -1, "reason": "x"}]}}, "restart.replay[0]"),
    ],
)
def test_bad_configs_are_rejected_naming_the_key(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        TrickConfig.from_dict(raw)
    assert str(info.value).startswith(key)


def test_ints_are_accepted_for_floats() -> None:
    assert TrickConfig.from_dict({"train": {"lr": 1}}).train.lr == 1.0


def test_overrides() -> None:
    assert parse_override("train.epochs=3") == (["train", "epochs"], 3)
    assert parse_override("loss.kind=focal") == (["loss", "kind"], "focal")
    assert parse_override("train.augment=false") == (["train", "augment"], False)
    raw = apply_overrides({"train": {"epochs": 5}}, ["train.epochs=2", "loss.focal_gamma=0.5"])
    assert raw == {"train": {"epochs": 2}, "loss": {"focal_gamma": 0.5}}
    for bad in ("train.epochs", "=3", "train..epochs=3"):
        with pytest.raises(ConfigError, match=r"section\.key=value"):
            parse_override(bad)


def test_torchvision_model_names_are_valid() -> None:
    assert TrickConfig.from_dict({"model": {"name": "resnet18"}}).model.name == "resnet18"


def test_replay_takes_restart_events_as_the_trainer_writes_them() -> None:
    event = {"epoch": 2, "reason": "plateau", "lr_before": 0.1, "lr_after": 0.05, "value": 0.7}
    cfg = TrickConfig.from_dict({"restart": {"replay": [event]}})
    assert cfg.restart.replay == [event]
    with pytest.raises(ConfigError, match=r"^restart\.replay\[0\]\.reason: missing"):
        TrickConfig.from_dict({"restart": {"replay": [{"epoch": 2}]}})

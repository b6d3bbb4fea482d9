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
        ({"model": {"width": 0}}, "model.width"),
        ({"model": {"name": "resnet32", "width": 32}}, "model.width"),
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


def test_stretched_keeps_warmup_decay_and_deferral_in_proportion() -> None:
    from tricks.schedules import warmup_cosine_lr

    raw = {
        "train": {"epochs": 20},
        "loss": {"kind": "weighted_ce", "weights_from_epoch": 15},
        "schedule": {"warmup_steps": 100, "phase_steps": 1600},
        "restart": {"replay": [{"epoch": 5, "reason": "pruned"}]},
        "finetune": {"epochs": 4},
    }
    short = TrickConfig.from_dict(raw)
    long = short.stretched(60)
    assert long.train.epochs == 60 and long.finetune.epochs == 4
    assert (long.schedule.warmup_steps, long.schedule.phase_steps) == (300, 4800)
    assert long.loss.weights_from_epoch == 45
    assert long.restart.replay == [] and long.provenance["stretched_from_epochs"] == 20
    assert short.train.epochs == 20 and short.restart.replay  # the original is untouched
    # The LR curve has the same shape: equal at the same fraction of training.
    for fraction in (0.02, 0.1, 0.5, 0.9):
        a, b = short.schedule, long.schedule
        lr_short = warmup_cosine_lr(round(fraction * 2000), a.warmup_steps, a.phase_steps, 0.1)
        lr_long = warmup_cosine_lr(round(fraction * 6000), b.warmup_steps, b.phase_steps, 0.1)
        assert lr_long == pytest.approx(lr_short, rel=1e-3)


def test_stretched_to_fewer_epochs_stays_valid() -> None:
    cfg = TrickConfig.from_dict(
        {
            "train": {"epochs": 20},
            "loss": {"kind": "weighted_ce", "weights_from_epoch": 19},
            "schedule": {"warmup_steps": 10, "phase_steps": 11},
        }
    )
    one = cfg.stretched(1)
    assert one.loss.weights_from_epoch == 0 and one.schedule.phase_steps > one.schedule.warmup_steps
    with pytest.raises(ConfigError, match="epochs: must be at least 1"):
        cfg.stretched(0)

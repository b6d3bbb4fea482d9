"""``[model] weights``: start from a state-dict file, or torchvision's weights API offline."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tricks.pretrained
from tests.conftest import tiny_config
from tests.test_bad_input import one_line_exit_2
from tricks.config import ConfigError
from tricks.models import SmallCNN, build_model
from tricks.pretrained import check_provenance, file_sha256, provenance
from tricks.trainer import Trainer


@pytest.fixture(autouse=True)
def _report_again() -> None:
    tricks.pretrained._REPORTED.clear()  # each test sees the once-per-process line


def saved_cnn(path: Path, num_classes: int = 10, width: int = 16, steps: int = 3) -> SmallCNN:
    """A small CNN trained a few steps on noise and saved: weights no initialisation gives."""
    torch.manual_seed(123)
    model = SmallCNN(1, num_classes, width)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x, y = torch.randn(16, 1, 28, 28), torch.randint(0, num_classes, (16,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.save(model.state_dict(), path)
    return model.eval()


def test_the_loaded_model_predicts_exactly_as_the_saved_one(tmp_path: Path, tiny_data) -> None:
    saved = saved_cnn(tmp_path / "w.pt")
    trainer = Trainer(tiny_config(model={"weights": str(tmp_path / "w.pt")}), tiny_data)
    loaded = trainer.build_model().eval()
    saved = saved.to(memory_format=trainer.memory_format)
    with torch.no_grad():
        for x, _ in trainer.eval_batches("val"):
            assert torch.equal(loaded(x), saved(x))


def test_a_head_of_another_size_is_reinitialised_and_named(
    tmp_path: Path, tiny_data, capsys
) -> None:
    saved = saved_cnn(tmp_path / "five.pt", num_classes=5)
    trainer = Trainer(tiny_config(model={"weights": str(tmp_path / "five.pt")}), tiny_data)
    model = trainer.build_model()
    err = capsys.readouterr().err
    assert "re-initialised: head.weight, head.bias" in err
    assert model.head.weight.shape == (10, 64)
    assert f"{len(model.state_dict()) - 2} tensors loaded" in err  # all but the head's two
    conv = saved.features[0][0].weight
    assert torch.equal(model.features[0][0].weight.detach().cpu().contiguous(), conv.detach())
    trainer.build_model()
    assert "re-initialised" not in capsys.readouterr().err  # said once per process


def test_a_checkpoint_holding_the_state_dict_and_a_ddp_prefix_load(tmp_path: Path) -> None:
    from tricks.pretrained import read_state_dict

    state = saved_cnn(tmp_path / "w.pt").state_dict()
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "c.pt"
    )
    loaded = read_state_dict(tmp_path / "c.pt")
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.pt"
    if kind == "garbage":
        path.write_bytes(b"not a torch file")
    elif kind == "list":
        torch.save([torch.zeros(2)], path)
    elif kind == "wide":
        saved_cnn(path, width=32, steps=0)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "model.weights: no file"),
        ("garbage", "is not a torch file of tensors"),
        ("list", "holds no state dict"),
        ("wide", "features.0.0.weight is (32, 1, 3, 3) in the file, (16, 1, 3, 3) in the model"),
    ],
)
def test_bad_weights_files_name_the_key(tmp_path: Path, tiny_data, kind, message) -> None:
    config = tiny_config(model={"weights": str(_bad_file(tmp_path, kind))})
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Trainer(config, tiny_data).build_model()


def test_torchvision_weights_come_from_torchs_cache_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from torchvision.models import ResNet18_Weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    config = tiny_config(model={"name": "resnet18", "weights": "IMAGENET1K_V1"})
    url_name = Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    with pytest.raises(ConfigError, match=f"put .* at {tmp_path}/torch/hub/checkpoints/{url_name}"):
        tricks.models.model_from_config(config.model, 3, 10)  # not cached, no network
    torch.manual_seed(7)
    imagenet = build_model("resnet18", 3, 1000)  # stands in for the real file
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(imagenet.state_dict(), cache / url_name)
    model = tricks.models.model_from_config(config.model, 3, 10)
    assert "re-initialised: fc.weight, fc.bias" in capsys.readouterr().err
    assert torch.equal(model.conv1.weight, imagenet.conv1.weight)
    with pytest.raises(ConfigError, match=r"unknown weights 'IMAGENET9K'.*valid: DEFAULT"):
        tricks.models.model_from_config(
            config.model.model_copy(update={"weights": "IMAGENET9K"}), 3, 10
        )


def test_a_weights_name_is_refused_for_models_torchvision_does_not_have() -> None:
    with pytest.raises(ConfigError, match=r"^model\.weights: 'DEFAULT' names torchvision weights"):
        tiny_config(model={"weights": "DEFAULT"})


def test_provenance_records_the_hash_and_train_refuses_a_changed_file(tmp_path: Path, cli) -> None:
    weights = tmp_path / "w.pt"
    saved_cnn(weights)
    config = tiny_config(model={"weights": str(weights)}, train={"epochs": 1})
    config.provenance.update(provenance(config))
    assert config.provenance["weights_sha256"] == file_sha256(weights)
    check_provenance(config)  # unchanged: accepted
    config.save(tmp_path / "best.toml")
    saved_cnn(weights, steps=4)  # the file changes after the export
    proc = cli("train", str(tmp_path / "best.toml"), "--output", str(tmp_path / "run"))
    one_line_exit_2(proc, f"model.weights: {weights} changed since the config was exported")
    assert not (tmp_path / "run").exists()

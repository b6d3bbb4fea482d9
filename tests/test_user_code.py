"""``[model] factory`` and ``[data] factory``: the user's own model and Datasets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from search.retrain import run_train
from tests.user_package import write_user_package
from tricks.config import ConfigError, TrickConfig
from tricks.data import DataError
from tricks.sources import load_data
from tricks.streaming import StreamData
from tricks.trainer import Trainer
from tricks.user_code import resolve_callable


@pytest.fixture
def user_pkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The ``tsuser`` package in a folder outside the repository, on ``sys.path``."""
    folder = write_user_package(tmp_path / "outside")
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("tsuser", None)
    yield folder
    sys.modules.pop("tsuser", None)


def factory_config(data: dict | None = None, model: dict | None = None, **more) -> TrickConfig:
    raw = {
        "data": {"factory": "tsuser:vectors", "val_per_class": 5, "loader_workers": 0},
        "model": {"factory": "tsuser:mlp"},
        "train": {"epochs": 3, "batch_size": 16, "lr": 0.1},
        "finetune": {"epochs": 1},
        **more,
    }
    raw["data"].update(data or {})
    raw["model"].update(model or {})
    return TrickConfig.from_dict(raw)


def test_a_factory_model_trains_on_factory_data(user_pkg) -> None:
    config = factory_config(model={"kwargs": {"hidden": 32}})
    data = load_data(config.data)
    assert isinstance(data, StreamData)
    assert data.classes == ["c0", "c1", "c2", "c3"]
    assert data.class_counts == [80, 40, 20, 10]
    trainer = Trainer(config, data)
    result = trainer.fit()
    assert result.model[0].out_features == 32  # model.kwargs reached the factory
    assert result.value > 0.6  # four classes a unit apart: learnable in three epochs
    assert trainer.memory_format == torch.contiguous_format  # an MLP: no convolution
    assert trainer.evaluate(result.model, "test")["balanced_accuracy"] > 0.6


def test_no_val_is_carved_per_class_and_no_test_means_no_test_metric(
    user_pkg, tmp_path: Path
) -> None:
    config = factory_config(data={"kwargs": {"val": False, "test": False}})
    data = load_data(config.data)
    assert len(data.val) == 4 * 5
    assert data.class_counts == [75, 35, 15, 5]  # the carved items left training
    assert data.test is None
    metrics = run_train(config, tmp_path / "run", "cpu", None, stream=sys.stderr)
    assert metrics["test"] is None
    assert (tmp_path / "run" / "model.pt").is_file()


def test_labels_and_classes_without_attributes_come_from_one_pass(user_pkg) -> None:
    data = load_data(factory_config(data={"kwargs": {"labels_attr": False}}).data)
    assert data.classes == ["0", "1", "2", "3"]
    assert data.class_counts == [80, 40, 20, 10]


def test_training_augments_and_the_finetune_reads_the_plain_training_set(user_pkg) -> None:
    data = load_data(factory_config().data)
    assert data.split("train", augment=True).noise == 0.3
    assert data.split("train", augment=False).noise == 0.0


def test_the_memory_format_follows_the_built_model(user_pkg) -> None:
    config = factory_config(data={"factory": "tsuser:images"}, model={"factory": "tsuser:conv"})
    trainer = Trainer(config, load_data(config.data))
    model = trainer.build_model()
    assert trainer.memory_format == torch.channels_last  # it holds a Conv2d
    x, _ = next(trainer.batches(augment=False))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert model(x).shape == (16, 4)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tsuser.nope:f", "model.factory: cannot import 'tsuser.nope'"),
        ("tsuser:nothing", "model.factory: 'tsuser:nothing' names nothing"),
        ("tsuser:NOT_CALLABLE", "model.factory: 'tsuser:NOT_CALLABLE' is a int, not a callable"),
    ],
)
def test_a_factory_path_that_does_not_resolve_names_the_key(user_pkg, path, message) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        resolve_callable(path, "model.factory")


def test_a_factory_path_without_a_colon_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match=r"^model\.factory: expected 'package\.module:function'"):
        TrickConfig.from_dict({"model": {"factory": "tsuser.mlp"}})


def test_a_model_factory_that_returns_no_module_is_refused(user_pkg) -> None:
    config = factory_config(model={"factory": "tsuser:not_a_module"})
    with pytest.raises(ConfigError, match=r"returned a int, not a torch\.nn\.Module"):
        Trainer(config, load_data(config.data)).build_model()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("tsuser:not_pairs", "item 0 is a Tensor, not (input, label)"),
        ("tsuser:bad_labels", "label 4 is outside 0 .. 3"),
        ("tsuser:not_a_dataset", "returned a int, not a map-style Dataset"),
        ("tsuser:raises", "raised OSError: no such bucket"),
    ],
)
def test_bad_factory_data_names_the_key(user_pkg, factory: str, message: str) -> None:
    with pytest.raises(DataError) as info:
        load_data(factory_config(data={"factory": factory}).data)
    assert str(info.value).startswith("data.factory")
    assert message in str(info.value)


STUDY = """
[study]
name = "own"
[pruner]
name = "NopPruner"
[data]
factory = "{data}"
val_per_class = 5
loader_workers = 0
[model]
factory = "{model}"
{weights}
[train]
epochs = 2
batch_size = 32
[finetune]
epochs = 1
[space]
lr = [0.05, 0.2]
"""


def study_file(folder: Path, data="tsuser:vectors", model="tsuser:mlp", weights="") -> Path:
    path = folder / "study.toml"
    weights = f'weights = "{weights}"' if weights else ""
    path.write_text(STUDY.format(data=data, model=model, weights=weights))
    return path


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("model", "tsuser.gone:mlp", "model.factory: cannot import 'tsuser.gone'"),
        ("model", "tsuser:nothing", "model.factory: 'tsuser:nothing' names nothing"),
        ("model", "tsuser:NOT_CALLABLE", "model.factory: 'tsuser:NOT_CALLABLE' is a int"),
        ("model", "tsuser:not_a_module", "model.factory: tsuser:not_a_module returned a int"),
        ("data", "tsuser:not_a_dataset", "returned a int, not a map-style Dataset"),
        ("data", "tsuser:bad_labels", "data.factory tsuser:bad_labels ('train'): label 4"),
        ("data", "tsuser:not_pairs", "item 0 is a Tensor, not (input, label)"),
        ("weights", "missing.pt", "model.weights: no file missing.pt"),
    ],
)
def test_bad_user_code_in_a_study_stops_before_it_with_one_line(
    user_pkg, tmp_path: Path, cli, where: str, value: str, message: str
) -> None:
    from tests.test_bad_input import one_line_exit_2

    work = tmp_path / "work"
    work.mkdir()
    path = study_file(work, **{where: value})
    proc = cli("run", str(path), "--storage", f"sqlite:///{work / 's.db'}", "--no-dashboard")
    one_line_exit_2(proc, message)
    assert sorted(p.name for p in work.iterdir()) == ["study.toml"]  # nothing stored


def test_a_factory_next_to_the_study_file_imports_without_pythonpath(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_user_package(tmp_path / "project")
    sys.modules.pop("tsuser", None)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the run adds the study's folder
    monkeypatch.setenv("PYTHONPATH", "")
    path = study_file(folder)
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = cli("run", str(path), "--storage", url, "--n-trials", "1", "--no-dashboard")
    sys.modules.pop("tsuser", None)
    assert proc.returncode == 0, proc.stderr
    assert "best trial 0" in proc.stdout


def test_a_failure_inside_every_trial_fails_them_and_stops_the_worker(
    user_pkg, tmp_path: Path, cli
) -> None:
    import optuna

    path = study_file(tmp_path, model="tsuser:flaky")
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = cli("run", str(path), "--storage", url, "--n-trials", "6", "--no-dashboard")
    assert proc.returncode == 1
    reason = "model.factory: tsuser:flaky(num_classes=4, **model.kwargs) raised RuntimeError"
    assert f"3 trials in a row failed, the last with {reason}" in proc.stderr
    assert "Traceback" not in proc.stderr
    trials = optuna.load_study(study_name="own", storage=url).get_trials()
    assert [t.state.name for t in trials] == ["FAIL"] * 3  # not without end
    assert all(t.user_attrs["fail_reason"].startswith(reason) for t in trials)

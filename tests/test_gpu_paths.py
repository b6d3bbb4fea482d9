"""The CUDA path's defects a CPU and a mock can show: checkpoints across devices, the
autocast type, the evaluation batch, the device on record, the folders a cluster shares."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from search.checkpoints import CheckpointStore
from search.runner import RunOptions, _warn_local_folders
from tests.conftest import ROOT, TINY_STUDY, run_cli, tiny_config
from tricks.trainer import Trainer, amp_dtype_for


def test_a_checkpoint_written_on_a_gpu_loads_on_a_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = {"epoch": 3, "model": {"w": torch.ones(2)}}
    # Written as a CUDA process writes it: every storage tagged with its GPU.
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:3")
    store = CheckpointStore(tmp_path, "s")
    store.save(0, state)
    monkeypatch.undo()
    with pytest.raises(RuntimeError, match="CUDA"):  # what a plain torch.load does here
        torch.load(store.path(0), weights_only=True)
    loaded = store.load(0)
    assert loaded is not None and loaded["epoch"] == 3
    assert torch.equal(loaded["model"]["w"], torch.ones(2)) and loaded["model"]["w"].is_cpu


def test_a_generator_state_of_another_device_kind_resumes(tensors) -> None:
    cfg = tiny_config(train={"epochs": 3}, finetune={"epochs": 0}, restart={"max_restarts": 0})
    saved: list[dict] = []
    Trainer(cfg, tensors).fit(checkpoint=lambda s: saved.append(torch.utils._pytree.tree_map(
        lambda t: t.clone() if isinstance(t, torch.Tensor) else t, s)))  # fmt: skip
    snapshot = dict(saved[0])
    snapshot["generator"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state
    snapshot["generator_device"] = "cuda"
    result = Trainer(cfg, tensors).fit(resume=snapshot)  # no "RNG state is wrong size"
    assert [e.epoch for e in result.history] == [0, 1, 2]


@pytest.mark.parametrize(("capability", "dtype"), [((7, 5), None), ((8, 0), torch.bfloat16)])
def test_the_autocast_type_follows_the_gpus_capability(
    monkeypatch: pytest.MonkeyPatch, capability, dtype
) -> None:
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert amp_dtype_for(torch.device("cuda:0")) is dtype  # T4 (7.5): fp32; A100 (8.0): bf16
    assert amp_dtype_for(torch.device("cpu")) is None


def test_the_evaluation_batch_is_a_setting_and_test_stays_on_the_cpu(tensors) -> None:
    trainer = Trainer(tiny_config(train={"eval_batch_size": 7}), tensors)
    sizes = [len(y) for _, y in trainer.eval_batches("val")]
    assert sizes[0] == 7 and sum(sizes) == len(tensors.y_val)
    assert trainer.data.x_test is tensors.x_test  # not copied when the trainer was made


def test_run_says_what_it_trains_on_and_records_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    proc = run_cli("run", str(ROOT / "studies" / "quickstart.toml"), "--storage", url,
                   "--n-trials", "1", "--no-dashboard", *TINY_STUDY, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "training on cpu (" in proc.stderr and "threads" in proc.stderr
    trial = optuna.load_study(study_name="quickstart", storage=url).trials[0]
    assert trial.user_attrs["device"].startswith("cpu (")
    out = tmp_path / "best.toml"
    assert run_cli("export", "--storage", url, "--study", "quickstart", "--output", str(out),
                   cwd=tmp_path).returncode == 0  # fmt: skip
    assert f'device = "{trial.user_attrs["device"]}"' in out.read_text()


def test_a_server_storage_with_local_folders_warns_once(capsys) -> None:
    opts = RunOptions("postgresql://u:p@db-host/s", "s", 1)
    _warn_local_folders(opts)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--checkpoint-dir and --artifact-dir" in err[0]
    _warn_local_folders(RunOptions("postgresql://u:p@db-host/s", "s", 1, checkpoint_dir="/nfs/c",
                                   artifact_dir="/nfs/a"))  # fmt: skip
    _warn_local_folders(RunOptions("sqlite:///s.db", "s", 1))
    assert capsys.readouterr().err == ""


def test_the_folders_come_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    env = {"TRICKSEARCH_CHECKPOINT_DIR": str(tmp_path / "ck"),
           "TRICKSEARCH_ARTIFACT_DIR": str(tmp_path / "art")}  # fmt: skip
    proc = run_cli("run", str(ROOT / "studies" / "quickstart.toml"), "--storage", url,
                   "--n-trials", "1", "--checkpoint-every", "0", *TINY_STUDY, cwd=tmp_path,
                   env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "art").is_dir() and any((tmp_path / "art").iterdir())
    assert not (tmp_path / "s_artifacts").exists()
    assert (tmp_path / "ck" / "quickstart").is_dir()  # the trial's checkpoints were kept there


@pytest.mark.parametrize("command", ["dashboard", "ablate --study s", "run quickstart"])
def test_every_command_with_the_folders_reads_the_variables(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from search.cli import _build_parser

    monkeypatch.setenv("TRICKSEARCH_ARTIFACT_DIR", "/shared/art")
    monkeypatch.setenv("TRICKSEARCH_CHECKPOINT_DIR", "/shared/ck")
    args = _build_parser().parse_args(command.split())
    assert args.artifact_dir == "/shared/art"
    if command.startswith("run"):
        assert args.checkpoint_dir == "/shared/ck"
    explicit = _build_parser().parse_args([*command.split(), "--artifact-dir", "here"])
    assert explicit.artifact_dir == "here"  # the flag wins

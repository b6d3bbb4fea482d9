"""Devices and cores for workers: one GPU per worker process, threads from the allowed cores."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from search.errors import UsageError
from search.workers import plan_workers
from tests.conftest import ROOT
from tricks.cores import usable_cores


@pytest.fixture
def four_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node with four GPUs, as torch would report it (no GPU here to ask)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def visible(slots) -> list[str]:
    return [s.env["CUDA_VISIBLE_DEVICES"] for s in slots]


def test_cuda_spreads_workers_one_gpu_each(four_gpus) -> None:
    slots = plan_workers("cuda", 4)
    assert visible(slots) == ["0", "1", "2", "3"]
    assert {s.device for s in slots} == {"cuda:0"}  # each sees exactly its own GPU
    assert visible(plan_workers("auto", 4)) == ["0", "1", "2", "3"]


def test_workers_per_device_share_each_gpu(four_gpus) -> None:
    assert visible(plan_workers("cuda", 4, per_device=2)) == ["0", "0", "1", "1"]
    assert visible(plan_workers("cuda", 6)) == ["0", "1", "2", "3", "0", "1"]


def test_a_granted_gpu_set_is_kept(four_gpus, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")  # what a scheduler granted
    assert visible(plan_workers("cuda", 4)) == ["4", "5", "6", "7"]
    assert visible(plan_workers("cuda:1,cuda:3", 2)) == ["5", "7"]


def test_cuda_without_a_gpu_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="--device cuda: CUDA is not available"):
        plan_workers("cuda", 2)
    assert [s.device for s in plan_workers("auto", 2)] == ["cpu", "cpu"]
    with pytest.raises(UsageError, match="--workers-per-device must be >= 1"):
        plan_workers("cpu", 2, per_device=0)


def test_cpu_workers_split_the_usable_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.workers.usable_cores", lambda: 8)
    assert [s.threads for s in plan_workers("cpu", 4)] == [2, 2, 2, 2]
    assert [s.threads for s in plan_workers("cpu", 16)] == [1] * 16


@pytest.mark.skipif(shutil.which("taskset") is None, reason="no taskset")
def test_threads_follow_a_restricted_affinity() -> None:
    code = "from tricks.cores import usable_cores; print(usable_cores())"
    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    )
    assert out.stdout.strip() == "1"
    code = "from search.workers import plan_workers; print(plan_workers('cpu', 2)[0].threads)"
    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT
    )
    assert out.stdout.strip() == "1"


def test_a_cgroup_quota_caps_the_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 CPUs
    assert usable_cores(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cores(tmp_path) == usable_cores(tmp_path / "none")


def test_four_workers_start_each_with_its_own_gpu(four_gpus, monkeypatch) -> None:
    import json

    from search.runner import RunOptions
    from search.study_file import load_study_file
    from search.workers import spawn_workers

    started = []

    class FakeWorker:  # records what a worker process would be started with
        def __init__(self, cmd, stdin, env) -> None:
            self.env, self.cmd, self.sent = env, cmd, b""
            self.stdin = self
            started.append(self)

        def write(self, data: bytes) -> None:
            self.sent += data

        def close(self) -> None:
            pass

        def poll(self) -> int:
            return 0

        def wait(self) -> int:
            return 0

    monkeypatch.setattr("search.workers.subprocess.Popen", FakeWorker)
    spec = load_study_file(ROOT / "studies" / "quickstart.toml")
    assert spawn_workers(spec, RunOptions("sqlite:///x.db", "q", 8), 4, "cuda") == 0
    assert [w.env["CUDA_VISIBLE_DEVICES"] for w in started] == ["0", "1", "2", "3"]
    jobs = [json.loads(w.sent) for w in started]
    assert {j["options"]["device"] for j in jobs} == {"cuda:0"}
    assert [j["options"]["worker"] for j in jobs] == ["w0", "w1", "w2", "w3"]
    assert all(w.cmd[1:] == ["-m", "search.worker"] for w in started)

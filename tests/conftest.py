"""Shared fixtures: a tiny real Fashion-MNIST-LT bundle and the CLI in a subprocess."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tricks.config import TrickConfig
from tricks.data import DataBundle, load_bundle, long_tailed_counts

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
torch.set_num_threads(2)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module (the scripts are not a package; they import
    their siblings, such as ``results_io``, from their own folder)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # a dataclass looks its module up while it is made
    spec.loader.exec_module(module)
    return module


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


def synthetic_bundle(head: int = 60, ratio: float = 10.0, per_split: int = 15) -> DataBundle:
    """A learnable long-tailed bundle without files: 10 classes of 1x28x28 uint8 images.

    Class ``c`` is noise around the grey level ``20 + 24 c``: unchanged by the crops and
    flips of augmentation, so a small CNN learns it in an epoch or two. For tests of
    mechanics (restarts, pruning, resume, evaluation) that need tensors, not Fashion-MNIST.
    """
    gen = torch.Generator().manual_seed(0)

    def images(counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.cat([torch.full((n,), c) for c, n in enumerate(counts)])
        noise = torch.randn(len(y), 1, 28, 28, generator=gen) * 20
        return (noise + 20 + 24 * y.view(-1, 1, 1, 1)).clamp(0, 255).to(torch.uint8), y

    x_train, y_train = images(long_tailed_counts(head, 10, ratio))
    x_val, y_val = images([per_split] * 10)
    x_test, y_test = images([per_split] * 10)
    mean, std = (x_train.float() / 255).mean().item(), (x_train.float() / 255).std().item()
    classes = [f"class {c}" for c in range(10)]
    return DataBundle(x_train, y_train, x_val, y_val, x_test, y_test, classes, [mean], [std])


@pytest.fixture(scope="session")
def tensors() -> DataBundle:
    """:func:`synthetic_bundle`, shared by the session."""
    return synthetic_bundle()


@pytest.fixture(scope="session")
def tiny_data() -> DataBundle:
    cfg = tiny_config()
    return load_bundle(cfg.data, seed=0)


POSTGRES = os.environ.get("TRICKSEARCH_TEST_POSTGRES_URL")
REQUIRE = bool(os.environ.get("TRICKSEARCH_REQUIRE_SERVICES"))


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real storage: a SQLite file, or the PostgreSQL server of ``.ci/run``."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    if not POSTGRES:
        if REQUIRE:
            pytest.fail("TRICKSEARCH_TEST_POSTGRES_URL is not set but services are required")
        pytest.skip("no PostgreSQL server (set TRICKSEARCH_TEST_POSTGRES_URL; .ci/run does)")
    return POSTGRES


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


@dataclass
class Outcome:
    """What a user sees from one ``tricksearch`` command run in-process."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``cli(*args, cwd=...)`` runs ``search.cli.main(args)`` in this process (no start-up cost).

    Error tables use it; the process boundary (signals, workers, servers, exit codes
    seen by a shell) is tested through :func:`run_cli`.
    """
    from search.cli import main

    def run(*args: str, cwd: Path | None = None) -> Outcome:
        monkeypatch.chdir(cwd or ROOT)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real CLI in the background (for servers, workers and signals)."""
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})},
    )


TINY_STUDY = [
    "--set",
    "data.max_per_class=150",
    "--set",
    "data.val_per_class=40",
    "--set",
    "data.test_per_class=20",
    "--set",
    "train.epochs=2",
    "--set",
    "finetune.epochs=1",
    "--set",
    "train.batch_size=64",
    "--device",
    "cpu",
    "--no-warm-start",  # tests/test_warm_start.py covers the recipes
]


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> tuple[Path, str]:
    """A quickstart study of 4 tiny trials made by the real ``tricksearch run``."""
    tmp = tmp_path_factory.mktemp("tiny_study")
    url = f"sqlite:///{tmp / 'tricksearch.db'}"
    proc = run_cli(
        "run",
        str(ROOT / "studies" / "quickstart.toml"),
        "--storage",
        url,
        "--n-trials",
        "4",
        "--quiet",
        "--set",
        "pruner.kwargs.n_startup_trials=1",
        *TINY_STUDY,
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, url

"""The package stands alone: shipped studies by name, ``init``, plain-text help, the wheel."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from search.commands import COMMANDS
from search.shipped import shipped_names, study_path
from search.study_file import load_study_file
from tests.conftest import ROOT, TINY_STUDY
from tests.test_bad_input import one_line_exit_2

RST = re.compile(r"``|:(class|func|meth|mod|data):`")
NAMES = [c.__name__.rsplit(".", 1)[-1] for c in COMMANDS]


def test_every_shipped_study_is_found_by_name_and_parses() -> None:
    assert {"quickstart", "fashion_mnist_lt", "image_folder"} <= set(shipped_names())
    for name in shipped_names():
        path = study_path(name)
        assert path.name == f"{name}.toml" and path.is_file()
        assert load_study_file(path).name
    assert study_path("my/quickstart") == Path("my/quickstart")  # a path stays a path


def test_init_writes_the_image_folder_template_and_refuses_to_overwrite(
    cli, tmp_path: Path
) -> None:
    proc = cli("init", "s.toml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "s.toml").read_text() == study_path("image_folder").read_text()
    assert "tricksearch run s.toml --data-dir DIR" in proc.stdout
    one_line_exit_2(cli("init", "s.toml", cwd=tmp_path), "s.toml exists")
    proc = cli("init", "s.toml", "--from", "quickstart", "--force", cwd=tmp_path)
    assert proc.returncode == 0
    assert 'name = "quickstart"' in (tmp_path / "s.toml").read_text()


def test_init_from_an_unknown_study_lists_the_shipped_ones(cli, tmp_path: Path) -> None:
    proc = cli("init", "s.toml", "--from", "imagenet", cwd=tmp_path)
    one_line_exit_2(proc, "no shipped study named 'imagenet'; shipped: cifar100_lt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [None, *NAMES])
def test_help_is_plain_text_with_an_example(command: str | None) -> None:
    args = [command, "--help"] if command else ["--help"]
    proc = subprocess.run(
        [sys.executable, "-m", "search.cli", *args], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0
    assert not RST.search(proc.stdout), proc.stdout
    example = proc.stdout.split("example:\n", 1)[1].splitlines()[0].strip()
    assert example.startswith(f"tricksearch {command or ''}".strip())


def _build_wheel(out: Path) -> tuple[Path, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return next(out.glob("tricksearch-*.whl")), proc.stdout + proc.stderr


def _venv_with_wheel(tmp: Path, wheel: Path) -> Path:
    """A new environment holding the wheel; torch and the rest come from this environment's
    site-packages through a path file (its editable tricksearch is not activated there)."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    subprocess.run([*pip, "--no-deps", "-q", str(wheel)], check=True, timeout=300)
    site = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


@pytest.mark.slow
def test_the_wheel_works_outside_the_repository(tmp_path: Path) -> None:
    from PIL import Image

    wheel, log = _build_wheel(tmp_path / "dist")
    assert not re.search("deprecat", log, re.IGNORECASE), log
    venv = _venv_with_wheel(tmp_path, wheel)
    empty = tmp_path / "empty"
    (empty / "imgs").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ts = str(venv / "bin" / "tricksearch")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ts, *args], cwd=empty, env=env, capture_output=True, text=True, timeout=600
        )

    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import search; print(search.__file__)"],
        cwd=empty, env=env, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(venv)), where  # the installed copy, not the source tree
    for cls, color in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
        (empty / "imgs" / "train" / cls).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (12, 12), color).save(empty / "imgs" / "train" / cls / f"{i}.png")
    assert run("init", "s.toml").returncode == 0
    small = ["--set", "model.name=small_cnn", "--set", "data.image_size=12", "--set",
             "data.val_per_class=2", "--set", "train.epochs=1", "--set", "finetune.epochs=1",
             "--set", "data.loader_workers=0", "--no-dashboard", "--no-warm-start"]  # fmt: skip
    own = run("run", "s.toml", "--data-dir", "imgs", "--n-trials", "1", *small)
    assert own.returncode == 0, own.stderr[-3000:]
    quick = run("run", "quickstart", "--n-trials", "2", "--storage", "sqlite:///q.db", *TINY_STUDY)
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert "best trial" in quick.stdout


def test_the_readme_is_short_opens_with_the_two_commands_and_its_links_resolve() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first_block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    assert first_block.startswith("bash scripts/quickstart.sh")
    assert "bash scripts/test.sh" in first_block
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    for link in links:
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_the_readme_objective_is_the_example_that_runs() -> None:
    import textwrap

    source = (ROOT / "examples" / "own_loop" / "objective.py").read_text()
    marked = re.search(r"\[start:objective\]\n(.*?)# --8<-- \[end", source, re.S)
    assert marked is not None
    readme = (ROOT / "README.md").read_text()
    assert textwrap.dedent(marked.group(1)).strip() in readme  # tested in test_own_loop_e2e

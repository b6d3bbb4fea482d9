"""Every user mistake: one line on stderr, exit 2, nothing written.

The tables run ``main(argv)`` in-process (``cli``); a few cases go through the real
console script in a subprocess, where what a shell sees is the point.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY_STUDY, run_cli

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")
STUDY_HEAD = "[study]\nname = 'x'\n"

BAD_STUDY_FILES = [
    ("[study\n", "invalid TOML"),
    (STUDY_HEAD + "[train]\nepochz = 3\n", "train.epochz: unknown key"),
    (STUDY_HEAD + "[trian]\n", "trian: unknown section"),
    (STUDY_HEAD + "[train]\nepochs = 'three'\n", "train.epochs: expected an integer"),
    (STUDY_HEAD + "[loss]\nfocal_alpha = 2.0\n", "loss.focal_alpha: must be <= 1.0, got 2.0"),
    (STUDY_HEAD + "[loss]\nfocal_gamma = -0.5\n", "loss.focal_gamma: must be >= 0"),
    (STUDY_HEAD + "[schedule]\nwarmup_steps = 50\nphase_steps = 50\n", "schedule.phase_steps"),
    (STUDY_HEAD + "[train]\nlr = 0\n", "train.lr: must be > 0.0, got 0"),
    (STUDY_HEAD + "[data]\nimbalance_ratio = 0.5\n", "data.imbalance_ratio: must be >= 1"),
    (STUDY_HEAD + "[data]\ndataset = 'imagenet'\n", "data.dataset: unknown value 'imagenet'"),
    (STUDY_HEAD + "[model]\nname = 'resnet9000'\n", "model.name: unknown value 'resnet9000'"),
    (STUDY_HEAD + "[sampler]\nname = 'FooSampler'\n", "sampler.name: unknown sampler"),
    (STUDY_HEAD + "[pruner]\nname = 'Pruny'\n", "pruner.name: unknown pruner"),
    (STUDY_HEAD + "[pruner]\nname='MedianPruner'\nkwargs={bogus=1}\n", "pruner.kwargs"),
    (STUDY_HEAD + "[space]\nlr = [0.1, 0.01]\n", "space.lr: inverted range"),
    (STUDY_HEAD + "[space]\nfocal_alpha = [0.5, 1.5]\n", "space.focal_alpha: range"),
    (STUDY_HEAD + "[space]\nlosses = ['ce']\n", "space.losses: unknown parameter"),
    (STUDY_HEAD + "[space]\nloss_kind = ['hinge']\n", "space.loss_kind: unknown choice"),
    (STUDY_HEAD + "[space]\nlr = 0.1\n", "space.lr: expected a range"),
    (
        STUDY_HEAD + "[model]\nname = 'resnet32'\n[space]\nmodel_width = [16, 32]\n",
        "space.model_width: searches small_cnn's width only, not model 'resnet32'",
    ),
    (STUDY_HEAD + "direction = 'minimize'\n", "study.direction: only 'maximize' is supported"),
    (STUDY_HEAD + "warm_start = 'yes'\n", "study.warm_start: expected true or false"),
    ("[study]\nname = ' '\n", "study.name: expected a non-empty string"),
    ("[sampler]\nname = 'TPESampler'\n", "study: missing; this key is required"),
]


def one_line_exit_2(proc, message: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in proc.stderr
    assert message in lines[0], lines[0]


@pytest.mark.parametrize(("text", "message"), BAD_STUDY_FILES)
def test_bad_study_files(cli, tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = cli("run", str(path), "--storage", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    one_line_exit_2(proc, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # nothing written


def test_the_console_script_reports_a_bad_study_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(STUDY_HEAD + "[loss]\nfocal_gamma = -0.5\n")
    proc = run_cli("run", str(path), "--storage", f"sqlite:///{tmp_path / 's.db'}", cwd=tmp_path)
    one_line_exit_2(proc, "loss.focal_gamma: must be >= 0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.toml"], "cannot read study file missing.toml"),
        (["run", QUICKSTART, "--set", "train.epochs"], "--set expects section.key=value"),
        (["run", QUICKSTART, "--set", "train.epochs=two"], "train.epochs: expected an integer"),
        (["run", QUICKSTART, "--storage", "redis://x"], "is not understood"),
        (["run", QUICKSTART, "--storage", "sqlite:///no/such/dir/s.db"], "does not exist"),
        (["run", QUICKSTART, "--storage", "journal:///no/such/dir/s.log"], "does not exist"),
        (["run", QUICKSTART, "--workers", "0"], "--workers must be >= 1"),
        (["run", QUICKSTART, "--n-trials", "0"], "--n-trials must be >= 1"),
        (["run", QUICKSTART, "--checkpoint-every", "-1"], "--checkpoint-every must be >= 0"),
        (["run", QUICKSTART, "--checkpoint-every", "nan"], "--checkpoint-every must be >= 0"),
        (["run", QUICKSTART, "--device", "tpu"], "unknown device 'tpu'"),
        (["run", QUICKSTART, "--n-trials", "x"], "invalid int value"),
        (["run", QUICKSTART, "--work", "2"], "unrecognized arguments: --work 2"),
        (["run", QUICKSTART, "--storage", "sqlite+nodriver:///s.db"], "cannot open storage"),
        (["export", "--study", "nope"], "no storage at sqlite:///tricksearch.db"),
        (["report", "--study", "nope"], "no storage at sqlite:///tricksearch.db"),
        (["studies", "--storage", "mysql+nodriver://u@h/db"], "cannot open storage"),
    ],
)
def test_bad_command_lines(cli, tmp_path: Path, args: list[str], message: str) -> None:
    proc = cli(*args, cwd=tmp_path)
    one_line_exit_2(proc, message)
    assert not any(tmp_path.iterdir())


def test_data_dir_without_the_dataset_writes_no_study(cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("run", QUICKSTART, "--data-dir", str(empty), cwd=tmp_path)
    one_line_exit_2(proc, "no FashionMNIST IDX files")
    assert not (tmp_path / "tricksearch.db").exists()


def test_unreachable_postgres_never_shows_the_password(cli, tmp_path: Path) -> None:
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/nowhere"
    shown = "cannot open storage postgresql://alice:***@127.0.0.1:1/nowhere"
    proc = run_cli("run", QUICKSTART, "--storage", url, cwd=tmp_path)  # what a shell sees
    one_line_exit_2(proc, shown)
    assert "s3cret-pw" not in proc.stderr + proc.stdout
    for args in (["studies", "--storage", url], ["export", "--storage", url, "--study", "x"]):
        outcome = cli(*args, cwd=tmp_path)
        one_line_exit_2(outcome, shown)
        assert "s3cret-pw" not in outcome.stderr + outcome.stdout


def test_export_with_no_completed_trial(cli, tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="empty", direction="maximize")
    proc = cli(
        "export",
        "--storage",
        url,
        "--study",
        "empty",
        "--output",
        str(tmp_path / "best.toml"),
        cwd=tmp_path,
    )
    one_line_exit_2(proc, "has no completed trial to export")
    assert not (tmp_path / "best.toml").exists()


def test_hand_edited_exported_config(cli, tiny_study, tmp_path: Path) -> None:
    _, url = tiny_study
    out = tmp_path / "best.toml"
    assert (
        cli("export", "--storage", url, "--study", "quickstart", "--output", str(out)).returncode
        == 0
    )
    text = out.read_text()
    for edit, message in [
        (text.replace('kind = "', 'kind = "x', 1), "unknown value"),
        (text.replace("[train]", "[train]\nbogus = 1"), "train.bogus: unknown key"),
        (text[: len(text) // 2] + "\n[[[", "invalid TOML"),
        (text.replace("epochs = 2", "epochs = -2", 1), "train.epochs: must be >= 1"),
    ]:
        out.write_text(edit)
        proc = cli("train", str(out), "--output", str(tmp_path / "run"))
        one_line_exit_2(proc, message)
        assert not (tmp_path / "run").exists()


def test_a_bad_run_leaves_the_existing_study_untouched(cli, tiny_study) -> None:
    tmp, url = tiny_study
    db = Path(url.split(":///", 1)[1])
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for bad in (
        ["--set", "loss.focal_gamma=-1"],
        ["--data-dir", str(tmp / "nope")],
        ["--set", "space.lr=[1, 0.1]"],
    ):
        proc = cli("run", QUICKSTART, "--storage", url, *TINY_STUDY, *bad, cwd=tmp)
        assert proc.returncode == 2, proc.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_an_edited_study_file_is_refused_on_resume(cli, tiny_study, tmp_path: Path) -> None:
    tmp, url = tiny_study
    db = Path(url.split(":///", 1)[1])
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    edited = [*TINY_STUDY, "--set", "train.epochs=3", "--set", "space.lr=[0.02, 0.2]"]
    proc = cli("run", QUICKSTART, "--storage", url, *edited, cwd=tmp)
    one_line_exit_2(proc, "was created from a different study definition")
    assert "space.lr" in proc.stderr and "train.epochs" in proc.stderr
    assert "--accept-changed-study" in proc.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_accepting_a_changed_study_records_the_change(tmp_path: Path) -> None:
    import optuna

    from search.errors import UsageError
    from search.runner import RunOptions, open_study
    from search.study_file import load_study_file

    opts = RunOptions(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="q", n_trials=3)
    open_study(load_study_file(QUICKSTART), opts)
    longer = load_study_file(QUICKSTART, ["study.n_trials=30", "train.epochs=7"])
    with pytest.raises(UsageError, match=r"changed: train\.epochs\)"):
        open_study(longer, opts)  # n_trials may change between runs; epochs may not
    opts.accept_changed_study = True
    study = open_study(longer, opts)
    changes = optuna.load_study(study_name="q", storage=opts.storage).user_attrs["spec_changes"]
    assert [c["changed"] for c in changes] == [["train.epochs"]]
    assert study.user_attrs["spec"]["train"]["epochs"] == 7

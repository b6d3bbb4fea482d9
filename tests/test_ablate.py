"""``tricksearch ablate`` through the real CLI, a real storage and a real dashboard server."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import optuna
import pytest

from tests.conftest import ROOT, TINY_STUDY, run_cli, start_cli
from tests.test_bad_input import one_line_exit_2
from tests.test_dashboard import free_port, get, wait_until_served
from tricks.ablation import variants
from tricks.config import TrickConfig

QUICKSTART = str(ROOT / "studies" / "quickstart.toml")
# Every trick on, so that every variant applies but balanced softmax.
ALL_TRICKS = [
    "--set", "space.loss_kind=['weighted_focal']",
    "--set", "space.deferred_weights=[true]",
    "--set", "space.warmup_fraction=[0.1, 0.2]",
    "--set", "space.max_restarts=[1, 1]",
    "--set", "pruner.name='NopPruner'", "--set", "pruner.kwargs={}",
]  # fmt: skip


@pytest.fixture(scope="module")
def ablated(tmp_path_factory) -> tuple[Path, str, str]:
    tmp = tmp_path_factory.mktemp("ablate")
    url = f"sqlite:///{tmp / 'study.db'}"
    proc = run_cli(
        "run", QUICKSTART, "--storage", url, "--n-trials", "2", "--quiet", *TINY_STUDY,
        *ALL_TRICKS, cwd=tmp,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cli(
        "ablate", "--storage", url, "--study", "quickstart", "--seeds", "2", "--device", "cpu",
        cwd=tmp,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, url, proc.stderr


pytestmark = pytest.mark.slow


def test_one_row_per_trick_with_a_difference_and_a_ci(ablated) -> None:
    tmp, _, stderr = ablated
    assert "to train" in stderr and "s/epoch" in stderr  # the plan, with an estimate
    # stderr is a pipe here: no redrawn progress bar between the lines.
    assert not [line for line in stderr.splitlines() if line.startswith("ablation runs")]
    out = tmp / "ablation-quickstart"
    summary = json.loads((out / "ablation.json").read_text())
    tricks = [r["trick"] for r in summary["rows"]]
    assert sorted(tricks) == sorted(
        [
            "no-aug fine-tune",
            "no-aug fine-tune vs augmented control",
            "class weights",
            "deferred re-weighting",
            "focal loss",
            "warmup",
            "decay shape (cosine vs tanh)",
            "restarts",
        ]
    )
    for row in summary["rows"]:
        assert row["seeds"] == 2
        for split in ("val", "test"):
            assert row[split]["low"] <= row[split]["mean"] <= row[split]["high"]
        assert row["verdict"] in ("helps", "hurts", "no measurable effect at K=2")
    text = (out / "ablation.md").read_text()
    assert "does not use: balanced softmax" in text
    assert (out / "ablation.png").read_bytes().startswith(b"\x89PNG")


def test_a_second_run_trains_nothing_new(ablated) -> None:
    tmp, url, _ = ablated
    companion = optuna.load_study(study_name="quickstart.ablation", storage=url)
    before = len(companion.trials)
    assert before == 2 * 9  # 2 seeds x (the config + 8 variants)
    proc = run_cli("ablate", "--storage", url, "--study", "quickstart", "--seeds", "2", cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{before} stored, 0 to train" in proc.stderr
    assert len(optuna.load_study(study_name="quickstart.ablation", storage=url).trials) == before


def test_dashboard_shows_the_ablation_note_and_artifacts(ablated) -> None:
    tmp, url, _ = ablated
    port = free_port()
    proc = start_cli("dashboard", "--storage", url, "--port", str(port), cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    try:
        studies = wait_until_served(proc, f"{base}/api/studies")
        summaries = json.loads(studies)["study_summaries"]
        (summary,) = [s for s in summaries if s["study_name"] == "quickstart.ablation"]
        detail = json.loads(get(f"{base}/api/studies/{summary['study_id']}"))
        assert "| no-aug fine-tune |" in detail["note"]["body"]
        names = {a["filename"]: a for a in detail["artifacts"]}
        assert {"ablation.md", "ablation.json", "ablation.png"} <= set(names)
        png = names["ablation.png"]["artifact_id"]
        with urllib.request.urlopen(f"{base}/artifacts/{summary['study_id']}/{png}") as r:
            assert r.read().startswith(b"\x89PNG")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_config_without_a_trick_gets_no_variant_for_it() -> None:
    plain = TrickConfig.from_dict(
        {"loss": {"kind": "ce"}, "restart": {"max_restarts": 0}, "finetune": {"epochs": 0}}
    )
    found, absent = variants(plain)
    assert [v.trick for v in found] == ["decay shape (cosine vs tanh)"]
    assert found[0].config.schedule.kind == "tanh" and plain.schedule.kind == "cosine"
    assert {"warmup", "class weights", "focal loss", "restarts", "no-aug fine-tune"} <= set(absent)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--study", "quickstart", "--seeds", "0"], "--seeds must be >= 1"),
        (["--study", "quickstart", "--top", "0"], "--top must be >= 1"),
        (["--study", "nope"], "no study named 'nope'"),
    ],
)
def test_bad_input_changes_nothing(ablated, args: list[str], message: str) -> None:
    tmp, url, _ = ablated
    db = Path(url.split(":///", 1)[1])
    before = dump(db)
    proc = run_cli("ablate", "--storage", url, *args, cwd=tmp)
    one_line_exit_2(proc, message)
    assert dump(db) == before


def dump(db: Path) -> str:
    """The database's content as SQL: opening a WAL database may rewrite its bytes, not this."""
    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump())


def test_unknown_storage_and_a_study_without_completed_trials(tmp_path: Path) -> None:
    proc = run_cli("ablate", "--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study", "x")
    one_line_exit_2(proc, "no storage at")
    url = f"sqlite:///{tmp_path / 's.db'}"
    optuna.create_study(storage=url, study_name="empty", direction="maximize")
    proc = run_cli("ablate", "--storage", url, "--study", "empty", cwd=tmp_path)
    one_line_exit_2(proc, "has no completed trial to ablate")
    names = [s.study_name for s in optuna.get_all_study_summaries(url)]
    assert names == ["empty"]  # no companion study was created

"""``tricksearch report`` on studies made by the real CLI."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import optuna
from optuna.trial import TrialState

from search.report import SECTIONS
from tests.conftest import ROOT, TINY_STUDY, run_cli


def test_report_has_every_section_and_figure_and_matching_numbers(tiny_study, tmp_path) -> None:
    tmp, url = tiny_study
    out = tmp_path / "report"
    proc = run_cli(
        "report",
        "--storage",
        url,
        "--study",
        "quickstart",
        "--output",
        str(out),
        "--device",
        "cpu",
        cwd=tmp,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (out / "report.md").read_text()
    for section in SECTIONS:
        assert f"## {section}" in text
    for figure in ("history.png", "finetune_gain.png", "best_per_class.png"):
        assert (out / figure).read_bytes().startswith(b"\x89PNG")
        assert f"]({figure})" in text

    study = optuna.load_study(study_name="quickstart", storage=url)
    summary = json.loads((out / "summary.json").read_text())
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    gains = [(t.value - t.user_attrs["pre_finetune_value"]) * 100 for t in complete]
    assert summary["trials"] == len(study.trials)
    assert summary["finetune_gain_points"]["n"] == len(complete)
    assert abs(summary["finetune_gain_points"]["mean"] - statistics.fmean(gains)) < 1e-9
    assert summary["finetune_gain_points"]["helped"] == sum(g > 0 for g in gains)
    restarted = [t for t in study.trials if t.user_attrs.get("restarts")]
    assert summary["restarts"]["restarted_trials"] == len(restarted)
    best = study.best_trial
    assert f"Trial **{best.number}**" in text and f"{best.value:.4f}" in text
    loss_kind = best.user_attrs["trick_config"]["loss"]["kind"]
    assert summary["by_kind"]["loss_kind"][loss_kind]["best"] == best.value
    test = summary["test"]
    assert len(test["per_class_accuracy"]) == 10
    assert f"{test['balanced_accuracy'] * 100:.2f}%" in text


def test_a_study_without_notes_or_artifacts_still_reports(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    proc = run_cli(
        "run",
        str(ROOT / "studies" / "quickstart.toml"),
        "--storage",
        url,
        "--n-trials",
        "2",
        "--quiet",
        "--no-dashboard",
        *TINY_STUDY,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (tmp_path / "old_artifacts").exists()
    out = tmp_path / "r"
    proc = run_cli(
        "report",
        "--storage",
        url,
        "--study",
        "quickstart",
        "--output",
        str(out),
        "--no-test",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "## No-aug fine-tune gain" in (out / "report.md").read_text()
    # A study that does not exist is a usage error, not a traceback.
    proc = run_cli("report", "--storage", url, "--study", "nope", cwd=tmp_path)
    assert proc.returncode == 2 and "no study named 'nope'" in proc.stderr

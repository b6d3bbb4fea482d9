"""A real optuna-dashboard server over HTTP on a study made by ``tricksearch run``."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import start_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def wait_until_served(proc: subprocess.Popen[str], url: str, timeout: float = 60.0) -> bytes:
    """``url``'s body once the dashboard answers; fails with its stderr if it never does.

    A deadline, not a count of tries: on two loaded cores the server can take 20 s to
    import and bind.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return get(url)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"dashboard did not start: {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture(scope="module")
def server(tiny_study):
    tmp, url = tiny_study
    port = free_port()
    proc = start_cli("dashboard", "--storage", url, "--port", str(port), cwd=tmp)
    base = f"http://127.0.0.1:{port}"
    wait_until_served(proc, f"{base}/api/meta")
    first_line = proc.stdout.readline() if proc.stdout else ""
    yield base, first_line
    proc.terminate()
    proc.wait(timeout=10)


def study_detail(base: str) -> dict:
    summaries = json.loads(get(f"{base}/api/studies"))["study_summaries"]
    (summary,) = [s for s in summaries if s["study_name"] == "quickstart"]
    return json.loads(get(f"{base}/api/studies/{summary['study_id']}")), summary["study_id"]


def test_dashboard_prints_its_url_and_binds_loopback(server) -> None:
    base, first_line = server
    assert f"at {base}/dashboard/" in first_line
    assert "127.0.0.1" in first_line  # loopback unless --host says otherwise
    assert b"<html" in get(f"{base}/dashboard/").lower()  # the single-page app is served


def test_trial_notes_artifacts_and_metric_name_over_http(server) -> None:
    base, _ = server
    detail, study_id = study_detail(base)
    assert detail["objective_names"] == ["balanced_accuracy"]
    assert "training images" in detail["note"]["body"]
    assert "Search space" in detail["note"]["body"]
    graph_ids = {g["id"] for g in detail["plotly_graph_objects"]}
    assert {"finetune-gain", "restarts"} <= graph_ids
    finished = [t for t in detail["trials"] if t["state"] in ("Complete", "Pruned")]
    assert finished
    for trial in finished:
        body = trial["note"]["body"]
        assert f"## Trial {trial['number']}" in body and "### Restarts" in body
        names = {a["filename"] for a in trial["artifacts"]}
        assert {"learning_curve.png", "trick_config.toml"} <= names
        if trial["state"] == "Complete":
            assert "before the no-aug fine-tune" in body
            assert "| class | training images | validation accuracy |" in body
        else:
            assert "Pruned:" in body
        curve = next(a for a in trial["artifacts"] if a["filename"] == "learning_curve.png")
        png = get(f"{base}/artifacts/{study_id}/{trial['trial_id']}/{curve['artifact_id']}")
        assert png.startswith(b"\x89PNG")
        # Intermediate values: one per global epoch, the whole curve.
        steps = [v["step"] for v in trial["intermediate_values"]]
        assert steps == sorted(set(steps)) and steps[0] == 0


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("TRICKSEARCH_REQUIRE_SERVICES"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_headless_chromium_renders_the_trial_page(server, tmp_path: Path) -> None:
    base, _ = server
    _, study_id = study_detail(base)
    args = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    page = f"{base}/dashboard/studies/{study_id}/trials"
    dom = subprocess.run([*args, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert "Trial 0" in dom.stdout and "no-aug fine-tune" in dom.stdout
    shot = tmp_path / "trial.png"
    subprocess.run(
        [*args, "--window-size=1400,1000", f"--screenshot={shot}", page],
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000

"""The claim lock: a second process waits until the first releases the study's lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from search.claim import claim_lock
from tests.conftest import ROOT

HOLDER = """
import sys, time
from pathlib import Path
from search.claim import claim_lock
url, marks = sys.argv[1], Path(sys.argv[2])
with claim_lock(url, "s"):
    (marks / "held").touch()
    time.sleep(1.0)
    (marks / "released").touch()
"""


def test_a_second_process_waits_for_the_lock(storage_url: str, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, storage_url, str(tmp_path)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    while not (tmp_path / "held").exists():
        assert holder.poll() is None, "the holder died before taking the lock"
        time.sleep(0.02)
    with claim_lock(storage_url, "s"):
        released_before_we_got_it = (tmp_path / "released").exists()
    assert holder.wait(timeout=60) == 0
    assert released_before_we_got_it

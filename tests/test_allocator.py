"""Freed tensor memory is reused, not faulted in again on every allocation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Allocate, touch and free a 64 MiB tensor 8 times after 3 warm-up rounds; print the minor
# page faults of those 8.
PROBE = """
import resource, sys
from tricks.allocator import keep_freed_memory
print(keep_freed_memory(), file=sys.stderr)
import torch
for _ in range(3):  # warm: the first blocks always fault
    torch.empty(16 << 20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    torch.empty(16 << 20).fill_(1.0)  # 16 Mi float32 = 64 MiB
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES_64_MIB = (64 << 20) // os.sysconf("SC_PAGE_SIZE")


def _faults(**env: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_tensor_memory_is_reused() -> None:
    kept = _faults()
    glibc_default = _faults(TRICKSEARCH_GLIBC_MALLOC="1")  # the opt-out: glibc as it is
    # glibc alone unmaps a 64 MiB block on free and faults all of it in again next time.
    assert glibc_default >= 6 * PAGES_64_MIB
    # Kept: at most a block or two fault in again (the heap's layout varies from run to
    # run; measured 0 or 1 of 8 over 10 runs, 2 once with a shorter warm-up).
    assert kept < 3 * PAGES_64_MIB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_user_malloc_settings_are_left_alone() -> None:
    # A user who tuned glibc themselves keeps their settings: nothing is changed here.
    assert _faults(MALLOC_TRIM_THRESHOLD_="0") >= 6 * PAGES_64_MIB

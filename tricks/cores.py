"""The CPU cores this process may use: its affinity and its cgroup's CPU quota.

``os.cpu_count()`` is the node's count; under SLURM, Kubernetes or ``taskset`` a process
is granted fewer. Torch threads and DataLoader workers are sized from :func:`usable_cores`
so that workers sharing a node do not oversubscribe it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["usable_cores"]

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_quota(root: Path = _CGROUP) -> float | None:
    """CPUs granted by the cgroup's quota (v2 ``cpu.max``, v1 ``cfs_quota_us``), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def usable_cores(cgroup_root: Path = _CGROUP) -> int:
    """Cores this process may run on: its affinity, capped by the cgroup quota; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, math.floor(quota) or 1)
    return max(1, cores)

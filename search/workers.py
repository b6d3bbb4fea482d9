"""``run --workers N``: N worker processes on one study, devices and CPU cores shared out.

The parent parses the command line and the study file once; each worker gets the result as
a structured description (the study's tables and the run options, JSON on its standard
input) and runs :func:`search.worker.main`. Nothing is re-parsed from ``argv``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search.device import resolve_device
from search.errors import UsageError
from tricks.cores import usable_cores

if TYPE_CHECKING:
    from search.runner import RunOptions
    from search.study_file import StudySpec

__all__ = ["WorkerSlot", "describe_run", "plan_workers", "spawn_workers"]


@dataclass(frozen=True)
class WorkerSlot:
    """Where one worker runs: its torch device, its environment and its CPU threads."""

    device: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int = 0  # 0: torch's default


def _gpu_ids(spec: str) -> list[str] | None:
    """The GPUs a device spec names, as the parent sees them; None for cpu or mps."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec in ("auto", "cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            if spec == "cuda":
                raise UsageError("--device cuda: CUDA is not available on this machine")
            return None
        indices = list(range(count))
    elif spec.startswith("cuda"):
        indices = [int(resolve_device(d).partition(":")[2] or 0) for d in spec.split(",")]
    else:
        return None
    ids = visible.split(",") if visible else [str(i) for i in range(max(indices) + 1)]
    return [ids[i].strip() for i in indices]


def plan_workers(spec: str, workers: int, per_device: int = 1) -> list[WorkerSlot]:
    """One slot per worker: GPUs shared out ``per_device`` at a time, each worker seeing
    exactly its own (``CUDA_VISIBLE_DEVICES``); CPU workers split the usable cores.

    Raises:
        UsageError: An unknown device, CUDA asked for and absent, or ``per_device`` < 1.
    """
    if per_device < 1:
        raise UsageError(f"--workers-per-device must be >= 1, got {per_device}")
    spec = spec.strip().lower()
    gpus = _gpu_ids(spec)
    if gpus is not None:
        return [
            WorkerSlot("cuda:0", {"CUDA_VISIBLE_DEVICES": gpus[(i // per_device) % len(gpus)]})
            for i in range(workers)
        ]
    device = "cpu" if spec == "auto" else resolve_device(spec)
    threads = max(1, usable_cores() // workers) if device == "cpu" else 0
    return [WorkerSlot(device, {}, threads) for _ in range(workers)]


def describe_run(spec: StudySpec, opts: RunOptions, **changes: Any) -> dict[str, Any]:
    """What a worker needs to run its share: the study's tables and the run options."""
    options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.init}
    return {"spec": spec.to_dict(), "options": {**options, **changes}}


def spawn_workers(
    spec: StudySpec, opts: RunOptions, workers: int, device: str, per_device: int = 1
) -> int:
    """Start ``workers`` worker processes on the study and wait for them.

    See :func:`plan_workers` for devices and threads: CPU workers split the usable
    cores (``torch.set_num_threads``), so N workers are not slower in total than one.
    SIGINT/SIGTERM are passed on; each worker marks its running trial failed and stops.
    Returns the worst exit status.
    """
    slots = plan_workers(device, workers, per_device)
    procs = []
    for i, slot in enumerate(slots):
        job = describe_run(spec, opts, device=slot.device, worker=f"w{i}", torch_ready=None)
        job["threads"] = slot.threads
        proc = subprocess.Popen(
            [sys.executable, "-m", "search.worker"],
            stdin=subprocess.PIPE,
            env={**os.environ, **slot.env},
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        procs.append(proc)
    where = [f"GPU {s.env['CUDA_VISIBLE_DEVICES']}" if s.env else s.device for s in slots]
    print(f"started {workers} workers on {', '.join(where)}", file=sys.stderr, flush=True)

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [p.wait() for p in procs]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return max(codes, key=abs)

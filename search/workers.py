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
from typing import TYPE_CHECKING, Any

from search.errors import UsageError

if TYPE_CHECKING:
    from search.runner import RunOptions
    from search.study_file import StudySpec

__all__ = ["describe_run", "device_list", "spawn_workers"]


def device_list(spec: str, workers: int) -> list[str]:
    """One device per worker: a comma list round-robin, ``auto`` = every visible GPU or the CPU."""
    from search.device import resolve_device

    if spec.strip().lower() == "auto":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = [f"cuda:{i}" for i in range(count)] or ["cpu"]
    else:
        devices = [resolve_device(d) for d in spec.split(",") if d.strip()]
        if not devices:
            raise UsageError(f"--device: no device in {spec!r}")
    return [devices[i % len(devices)] for i in range(workers)]


def describe_run(spec: StudySpec, opts: RunOptions, **changes: Any) -> dict[str, Any]:
    """What a worker needs to run its share: the study's tables and the run options."""
    options = {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts) if f.init}
    return {"spec": spec.to_dict(), "options": {**options, **changes}}


def spawn_workers(spec: StudySpec, opts: RunOptions, workers: int, device: str) -> int:
    """Start ``workers`` worker processes on the study and wait for them.

    CPU workers split the cores (``torch.set_num_threads``), so N workers are not
    slower in total than one. SIGINT/SIGTERM are passed on; each worker marks its
    running trial failed and stops. Returns the worst exit status.
    """
    devices = device_list(device, workers)
    cpu_workers = sum(d == "cpu" for d in devices) or 1
    threads = max(1, (os.cpu_count() or 1) // cpu_workers)
    procs = []
    for i, dev in enumerate(devices):
        job = describe_run(spec, opts, device=dev, worker=f"w{i}", torch_ready=None)
        job["threads"] = threads if dev == "cpu" else 0
        proc = subprocess.Popen([sys.executable, "-m", "search.worker"], stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        procs.append(proc)
    print(f"started {workers} workers on {', '.join(devices)}", file=sys.stderr, flush=True)

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

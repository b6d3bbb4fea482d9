"""``run --workers N``: N worker processes on one study, devices and CPU cores shared out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from search.defaults import ENV_THREADS, ENV_WORKER
from search.errors import UsageError

__all__ = ["device_list", "spawn_workers"]


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


def _strip(argv: Sequence[str], option: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def spawn_workers(argv: Sequence[str], workers: int, device: str) -> int:
    """Start ``workers`` copies of this ``run`` command as worker processes and wait for them.

    CPU workers split the cores (``torch.set_num_threads``), so N workers are not
    slower in total than one. SIGINT/SIGTERM are passed on; each worker marks its
    running trial failed and stops. Returns the worst exit status.
    """
    devices = device_list(device, workers)
    cpu_workers = sum(d == "cpu" for d in devices) or 1
    threads = max(1, (os.cpu_count() or 1) // cpu_workers)
    base = _strip(_strip(argv, "--workers"), "--device")
    procs = []
    for i, dev in enumerate(devices):
        env = {**os.environ, ENV_WORKER: f"w{i}"}
        if dev == "cpu":
            env[ENV_THREADS] = str(threads)
        cmd = [sys.executable, "-m", "search.cli", *base, "--device", dev]
        procs.append(subprocess.Popen(cmd, env=env))
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

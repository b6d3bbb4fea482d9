"""The painter: a low-priority helper process that draws each trial's learning curve.

Drawing one learning curve with matplotlib takes about 0.1 s of CPU, 1.9% of a
quickstart trial; a worker should spend its time training. So the worker only
registers the ``learning_curve.png`` artifact on the live trial (an RDB storage
accepts artifacts only while the trial runs) with an empty placeholder file, and
hands the curve to this process, which draws it at the lowest CPU priority
(``nice 19``, so it takes the cores' idle moments) and writes the picture into the
artifact store under the same artifact id. ``close`` waits for the last picture, so
every PNG exists when ``tricksearch run`` returns. If the painter is gone, the
worker draws in its own process, as before.

The protocol is one JSON :class:`PaintJob` per line on the painter's stdin.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["PaintJob", "Painter", "paint"]


@dataclass(frozen=True)
class PaintJob:
    """One picture: a trial's curve and restarts, and where the PNG goes."""

    artifact_dir: str  # a FileSystemArtifactStore's folder
    artifact_id: str
    curve: list[dict[str, Any]]
    restarts: list[dict[str, Any]]
    metric: str


def paint(job: PaintJob) -> None:
    """Draw ``job``'s learning curve and write it into the store under its artifact id."""
    from optuna.artifacts import FileSystemArtifactStore

    from search.figures import learning_curve_png

    with tempfile.TemporaryDirectory() as tmp:
        png = learning_curve_png(
            job.curve, job.restarts, job.metric, Path(tmp) / "learning_curve.png"
        )
        with png.open("rb") as f:
            FileSystemArtifactStore(job.artifact_dir).write(job.artifact_id, f)


class Painter:
    """The worker's side: starts the painter process on first use, sends jobs, waits at close."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The painter process's id once started."""
        return None if self._proc is None else self._proc.pid

    def submit(self, job: PaintJob) -> bool:
        """Queue ``job``; False when the painter cannot take it (the caller paints itself)."""
        try:
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "search.painter"], stdin=subprocess.PIPE
                )
            stdin = self._proc.stdin
            if stdin is None or self._proc.poll() is not None:
                return False
            stdin.write(json.dumps(asdict(job)).encode() + b"\n")
            stdin.flush()
        except OSError:  # could not start, or it died: a broken pipe
            return False
        return True

    def close(self, timeout: float = 300.0) -> None:
        """Let the painter finish its queue and exit; kill it after ``timeout`` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(
                f"tricksearch: the painter did not finish in {timeout:.0f} s; "
                "some learning_curve.png artifacts are empty",
                file=sys.stderr,
            )


def serve(lines: IO[str]) -> int:
    """The painter process's loop: one job per line until stdin closes."""
    for line in lines:
        try:
            job = PaintJob(**json.loads(line))
            paint(job)
        except Exception as exc:  # one bad picture must not lose the others
            print(f"tricksearch painter: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Ctrl-C reaches the whole process group: the worker stops its trial and closes our
    # stdin; we finish what is queued instead of dying with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):  # POSIX
        os.nice(19)
    sys.exit(serve(sys.stdin))

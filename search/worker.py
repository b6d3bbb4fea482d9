"""One worker process of ``run --workers N``: reads its run description, works on the study.

Started by :func:`search.workers.spawn_workers` as ``python -m search.worker`` with the
description (:func:`search.workers.describe_run`) as JSON on standard input. Exit status
as ``tricksearch run``: 0 done, 1 repeated trial failures, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

__all__ = ["main"]


def main() -> int:
    from tricks.allocator import keep_freed_memory

    keep_freed_memory()  # before torch allocates anything
    import torch
    from optuna.exceptions import ExperimentalWarning

    from search.errors import UsageError
    from search.runner import Interrupted, RepeatedFailure, RunOptions, run_study
    from search.study_file import parse_study
    from tricks.config import ConfigError
    from tricks.data import DataError

    torch_ready = time.perf_counter()
    warnings.filterwarnings("ignore", category=ExperimentalWarning)
    job = json.loads(sys.stdin.read())
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    try:
        spec = parse_study(job["spec"])
        spec.storage = job["options"]["storage"]
        opts = RunOptions(**{**job["options"], "torch_ready": torch_ready})
        run_study(spec, opts)
    except (UsageError, ConfigError, DataError) as exc:
        print(f"tricksearch: error: {exc}", file=sys.stderr)
        return 2
    except RepeatedFailure as exc:
        print(f"tricksearch: {exc}", file=sys.stderr)
        return 1
    except Interrupted:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

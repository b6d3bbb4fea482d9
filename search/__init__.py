"""The Optuna side of tricksearch: study files, the trick space, restart-on-prune, the CLI.

Names are imported on first use (PEP 562) so that ``tricksearch --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RestartOnPrunePruner": "search.pruner",
    "Objective": "search.objective",
    "TrialOutcome": "search.objective",
    "StudySpec": "search.study_file",
    "load_study_file": "search.study_file",
    "suggest_config": "search.space",
    "validate_space": "search.space",
    "RunOptions": "search.runner",
    "run_study": "search.runner",
    "open_study": "search.runner",
    "trial_session": "search.session",
    "run_fit": "search.session",
    "TrialSession": "search.session",
    "export_configs": "search.export",
    "build_report": "search.report",
    "TrialRecorder": "search.dashboard",
    "open_storage": "search.storage",
    "UsageError": "search.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

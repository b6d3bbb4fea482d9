"""Rules of the code base that a reviewer would otherwise check by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import ROOT


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_library_never_imports_the_cli() -> None:
    offenders = []
    for path in _sources("tricks", "search"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("search/commands/") or rel == "search/cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [
                f"{rel}: {n}" for n in names if n.startswith(("search.commands", "search.cli"))
            ]
    assert offenders == []


def test_restart_or_prune_is_decided_by_one_rule() -> None:
    text = {p: p.read_text() for p in _sources("tricks", "search")}
    defined = [p.name for p, t in text.items() if "def restart_allowed(" in t]
    assert defined == ["restart.py"]
    # Nowhere else compares restarts left or epochs left on its own.
    pattern = re.compile(r"restarts_left\s*<=|epochs_left\s*<=\s*0|len\(restarts\)\s*<\s*allowed")
    assert [p.name for p, t in text.items() if pattern.search(t)] == []
    users = sorted(p.name for p, t in text.items() if "restart_allowed(" in t)
    assert users == ["pruner.py", "restart.py"]


def test_no_benchmark_function_is_longer_than_a_screen() -> None:
    long = []
    for path in _sources("benchmarks"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.name}:{node.name}")
    assert long == []


def test_every_benchmark_writes_its_tables_through_one_helper() -> None:
    direct = re.compile(r'write_text\("\\n"\.join\(lines\)')
    found = [p.name for p in _sources("benchmarks") if direct.search(p.read_text())]
    assert found == ["results_io.py"] or found == []

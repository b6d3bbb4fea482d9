"""The code's layout rules, checked: public tricks API only, short functions, one private door."""

from __future__ import annotations

import ast
import importlib

from tests.conftest import ROOT

SOURCES = sorted([*ROOT.glob("tricks/**/*.py"), *ROOT.glob("search/**/*.py")])


def _trees() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(ROOT)), ast.parse(p.read_text())) for p in SOURCES]


def test_search_uses_only_the_public_names_of_tricks() -> None:
    private = []
    for path, tree in _trees():
        if not path.startswith("search"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tricks"):
                public = set(getattr(importlib.import_module(str(node.module)), "__all__", ()))
                private += [
                    f"{path}: {node.module}.{a.name}" for a in node.names if a.name not in public
                ]
    assert not private


def test_no_function_is_longer_than_60_lines() -> None:
    long = [
        f"{path}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (node.end_lineno or 0) - node.lineno + 1 > 60
    ]
    assert not long


def _private_optuna(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("optuna") and "._" in f".{node.module}"
    return isinstance(node, ast.Attribute) and node.attr in PRIVATE


PRIVATE = {"_storage", "_trial_id", "_get_bracket_id", "_create_bracket_study", "_filter_study"}


def test_optuna_private_api_only_in_its_module() -> None:
    uses = [
        f"{path}:{node.lineno}"
        for path, tree in _trees()
        if not path.endswith("optuna_private.py")
        for node in ast.walk(tree)
        if _private_optuna(node)
    ]
    assert not uses

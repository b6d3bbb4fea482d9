"""The reference tables of the docs, generated from the schema so they cannot drift.

``python -m search.reference`` rewrites the tables between their ``<!-- reference:NAME -->``
markers in ``docs/reference.md`` (or the page given); ``--check`` only says whether they are
current (``tests/test_reference.py`` runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from search.space import PARAMS, SETTINGS, Param
from search.study_file import StudyFile
from tricks.config import TrickConfig
from tricks.schema import field_choices

__all__ = ["PAGE", "config_table", "replace_marked", "space_table", "tables", "update"]

#: The docs page that holds the generated tables.
PAGE = Path("docs/reference.md")

_SCALES = {
    "float": "float range",
    "log": "float range, log scale",
    "log1m": "float range, 1 - x on a log scale",
    "int": "int range",
    "choice": "choice",
}


def _code(values: Any) -> str:
    return ", ".join(f"`{str(v).lower() if isinstance(v, bool) else v}`" for v in values)


def _number(x: float) -> str:
    return f"{x:g}"


def _space_row(name: str, p: Param) -> str:
    valid = _code(p.choices) if p.kind == "choice" else f"[{_number(p.low)}, {_number(p.high)}]"
    return f"| `{name}` | `{p.key}` | {_SCALES[p.kind]} | {valid} | {p.when} | {p.help} |"


def space_table() -> str:
    """One row per ``[space]`` key: the field it sets, its scale, widest range, condition."""
    rows = [_space_row(name, p) for name, p in PARAMS.items()]
    rows += [
        f"| `{k}` | (setting) | number | ({lo:g}, {hi:g}) | `deferred_weights` | "
        "fraction of the epochs before class weights start |"
        for k, (lo, hi) in SETTINGS.items()
    ]
    head = "| `[space]` key | sets | scale | widest range or choices | sampled when | meaning |"
    return "\n".join([head, "|---|---|---|---|---|---|", *rows])


def _valid(info: Any) -> str:
    choices = field_choices(info)
    if choices:
        return _code(choices)
    bounds = [
        f"{sign} {_number(getattr(m, attr))}"
        for m in info.metadata
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if getattr(m, attr, None) is not None
    ]
    return ", ".join(bounds)


def _default(info: Any) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "(required)"
    value = info.default_factory() if info.default is PydanticUndefined else info.default
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f'`"{value}"`' if isinstance(value, str) else f"`{value}`"


def _rows(model: type[BaseModel], prefix: str, only: tuple[str, ...] = ()) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        if only and name not in only:
            continue
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            rows += _rows(sub, f"{name}.")
        elif prefix:
            desc = info.description or ""
            rows.append(f"| `{prefix}{name}` | {_default(info)} | {_valid(info)} | {desc} |")
    return rows


def config_table(model: type[BaseModel], only: tuple[str, ...] = ()) -> str:
    """One row per key of the tables below ``model`` (or its tables ``only``)."""
    head = "| key | default | valid | meaning |"
    return "\n".join([head, "|---|---|---|---|", *_rows(model, "", only)])


def tables() -> dict[str, str]:
    """The generated tables by marker name."""
    return {
        "space": space_table(),
        "config": config_table(TrickConfig),
        "study": config_table(StudyFile, only=("study", "sampler", "pruner")),
    }


def replace_marked(text: str, name: str, body: str) -> str:
    """``text`` with what lies between the ``<!-- reference:NAME -->`` markers set to ``body``."""
    pattern = re.compile(
        rf"(<!-- reference:{name} -->\n).*?(<!-- /reference:{name} -->)", re.DOTALL
    )
    if not pattern.search(text):
        raise ValueError(f"no <!-- reference:{name} --> markers")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def update(text: str) -> str:
    """``text`` with every marked table replaced by its generated version."""
    for name, table in tables().items():
        text = replace_marked(text, name, table)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, nargs="?", default=PAGE, help=f"default {PAGE}")
    parser.add_argument("--check", action="store_true", help="exit 1 if the tables are stale")
    args = parser.parse_args(argv)
    text = args.page.read_text()
    new = update(text)
    if args.check:
        print("current" if new == text else "stale: run python -m search.reference")
        return int(new != text)
    args.page.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

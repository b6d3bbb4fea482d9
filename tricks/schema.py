"""The declarative schema under every config table: strict pydantic sections, search marks.

Each field of a trick config or study file is declared once, as a typed pydantic field
with its range (``ge``/``gt``/``le``/``lt``), its choices (a ``Literal`` type the type
checker sees) and its help text (``description``). Validation, the one-line error that
names the key, the search-space bounds (:class:`Search` marks) and the docs' tables
are all read from those declarations.

pydantic v2 is used rather than a home-made checker: strict types (no ``"3"`` for 3, no
``true`` for 1), ``extra="forbid"`` for typos, and machine-readable errors with the
key's location, which :func:`describe` turns into the project's one-line messages.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

__all__ = ["Search", "Section", "describe", "field_choices", "search_marks"]


class Section(BaseModel):
    """A config table: strict types, unknown keys refused, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


@dataclass(frozen=True)
class Search:
    """Marks a field as searchable in a study's ``[space]`` table.

    Attributes:
        key: The ``[space]`` name (and the Optuna parameter name).
        scale: ``float``, ``log``, ``log1m`` (1 - x on a log scale), ``int`` or ``choice``.
        low, high: The widest range a study may search (numeric scales).
        when: When the parameter is sampled, in words (the sampling code states it in code).
        choices: The choices, when they are not the field's own ``Literal``.
        help: What the sampled value means, when the field's description is not it
            (a fraction sampled for a field stored in steps).
    """

    key: str
    scale: Literal["float", "log", "log1m", "int", "choice"]
    low: float = -math.inf
    high: float = math.inf
    when: str = "always"
    choices: tuple[Any, ...] = ()
    help: str = ""


def field_choices(info: FieldInfo) -> tuple[Any, ...]:
    """The choices of a ``Literal`` (or ``bool``) field; empty for any other type."""
    if info.annotation is bool:
        return (False, True)
    if typing.get_origin(info.annotation) is Literal:
        return typing.get_args(info.annotation)
    return ()


def search_marks(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo, Search]]:
    """Every ``(section.key, field, mark)`` of the searchable fields below ``model``."""
    for name, info in model.model_fields.items():
        for meta in info.metadata:
            if isinstance(meta, Search):
                yield name, info, meta
        sub = info.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            for key, sub_info, mark in search_marks(sub):
                yield f"{name}.{key}", sub_info, mark


_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}
_EXPECTED = {
    "bool_type": "true or false",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "a list",
    "string_too_short": "a non-empty string",
    "string_pattern_mismatch": "a non-empty string",
}


def _key(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel]:
    for part in loc:
        sub = model.model_fields[str(part)].annotation if part in model.model_fields else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            break
        model = sub
    return model


def _message(error: Any, model: type[BaseModel]) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "extra_forbidden":
        if len(error["loc"]) == 1:
            return f"unknown section; valid: {', '.join(model.model_fields)}"
        valid = _model_at(model, error["loc"][:-1]).model_fields
        return f"unknown key; valid keys: {', '.join(valid)}"
    if kind in _BOUNDS:
        name, sign = _BOUNDS[kind]
        return f"must be {sign} {ctx[name]}, got {value!r}"
    if kind == "literal_error":
        return f"unknown value {value!r}; valid: {ctx['expected']}"
    if kind == "missing":
        return "missing; this key is required"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {value!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def describe(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first error of ``exc`` as one line: ``section.key: what is wrong, got value``."""
    error = exc.errors()[0]
    key = _key(tuple(error["loc"]))
    return f"{key}: {_message(error, model)}" if key else _message(error, model)

"""The docs' reference tables are generated from the schema and must match it."""

from __future__ import annotations

import pytest

from search.reference import PAGE, main, replace_marked, space_table, update
from search.space import PARAMS
from tests.conftest import ROOT


def test_the_reference_page_tables_match_the_schema() -> None:
    text = (ROOT / PAGE).read_text()
    assert update(text) == text, "stale: run python -m search.reference"


def test_every_searchable_key_has_a_row_with_its_field_and_range() -> None:
    table = space_table()
    for name, param in PARAMS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"`{param.key}`" in row
        if param.kind != "choice":
            assert f"[{param.low:g}, {param.high:g}]" in row


def test_check_reports_a_stale_table(tmp_path) -> None:
    readme = tmp_path / "reference.md"
    readme.write_text((ROOT / PAGE).read_text().replace("`train.lr`", "`train.rate`", 1))
    assert main([str(readme), "--check"]) == 1
    assert main([str(readme)]) == 0
    assert main([str(readme), "--check"]) == 0


def test_a_marked_block_is_replaced_and_the_text_around_it_kept() -> None:
    text = "intro\n<!-- reference:results -->\nold table\n<!-- /reference:results -->\nend\n"
    new = replace_marked(text, "results", "| new |")
    assert new == "intro\n<!-- reference:results -->\n| new |\n<!-- /reference:results -->\nend\n"
    assert replace_marked(new, "results", "| new |") == new  # idempotent
    with pytest.raises(ValueError, match="no <!-- reference:other --> markers"):
        replace_marked(text, "other", "x")

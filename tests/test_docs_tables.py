"""The documentation's result tables are what the committed benchmark JSON says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def test_the_front_page_table_is_made_from_the_committed_json(
        load_script: Callable[[str], ModuleType]) -> None:
    tables = load_script("docs/results_tables.py")
    committed = (ROOT / "docs" / "_includes" / "front_results.inc").read_text()
    assert committed == tables.front_results(), \
        "docs/_includes/front_results.inc is stale: run python docs/results_tables.py"

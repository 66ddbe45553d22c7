"""The documentation's result tables are what the committed benchmark JSON says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def test_the_front_page_table_is_made_from_the_committed_json(
        load_script: Callable[[str], ModuleType]) -> None:
    tables = load_script("docs/results_tables.py")
    assert set(tables.TABLES) >= {"front_results.inc", "backbone_results.inc",
                                  "four_backbones.inc", "int8_backbones.inc"}
    for name, table in tables.TABLES.items():
        committed = (ROOT / "docs" / "_includes" / name).read_text()
        assert committed == table(), \
            f"docs/_includes/{name} is stale: run python docs/results_tables.py"


def test_the_configurations_chart_draws_every_seed_of_the_json(
        load_script: Callable[[str], ModuleType]) -> None:
    import json

    figures = load_script("docs/results_figures.py")
    figure = figures.configurations_figure()
    data = json.loads(figures.SOURCE.read_text())
    seeds = [line for line in figure.axes[0].get_lines() if line.get_label().endswith("each seed")]
    assert len(seeds) == len(data["configs"])
    for line, config in zip(seeds, data["configs"].values()):
        assert sorted(line.get_ydata()) == sorted(100 * r["test_accuracy"] for r in config["runs"])

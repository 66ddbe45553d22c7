"""The link checker of the built site (docs/check_links.py) finds what it must."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("check_links", ROOT / "docs" / "check_links.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_broken_files_and_anchors_are_found_and_good_ones_are_not(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="api/data.html#tlkit.ImageSet">ok</a> <a href="api/data.html#tlkit.gone">x</a>'
        '<a href="missing.html">y</a> <a href="https://example.org/#z">ext</a>'
        '<img src="_static/pic.png"> <a href="#top">self</a><span id="top"></span>')
    (tmp_path / "api" / "data.html").write_text('<dt id="tlkit.ImageSet">ImageSet</dt>'
                                                 '<a href="../index.html#top">back</a>')
    broken = _checker().broken_links(tmp_path)
    assert broken == ["index.html -> _static/pic.png (no such file)",
                      "index.html -> api/data.html#tlkit.gone (no such anchor)",
                      "index.html -> missing.html (no such file)"]

"""Sphinx configuration for the tlkit documentation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import tlkit  # noqa: E402

project = "tlkit"
author = "tlkit developers"
copyright = "2026, tlkit developers"  # noqa: A001
release = tlkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "myst_parser",
]


def _reachable(url: str) -> bool:
    """Whether an intersphinx inventory can be fetched (the docs build offline too)."""
    import urllib.request

    if os.environ.get("TLKIT_DOCS_OFFLINE"):
        return False
    try:
        with urllib.request.urlopen(url + "objects.inv", timeout=3):  # noqa: S310
            return True
    except OSError:
        return False


_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
}
# Only inventories that can be reached now: offline, cross-links are skipped cleanly.
intersphinx_mapping = {
    name: (url, None) for name, url in _INVENTORIES.items() if _reachable(url)
}
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
# _static holds files shipped as they are (the sample report has a report.md, which
# would otherwise be read as a page).
exclude_patterns = ["_build", "_static"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Types go beside described parameters only: with "all", a class whose docstring has an
# Attributes section got a second, types-only Parameters list.
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# Docstring examples are run by pytest --doctest-modules; the doctest builder runs the guide pages.
doctest_test_doctest_blocks = ""

html_theme = "furo"
html_title = f"tlkit {release}"
html_static_path = ["_static"]

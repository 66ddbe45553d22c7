"""Shared by the benchmark scripts: where their JSON goes, written by the script itself.

Every benchmark prints its JSON object (and nothing else) to stdout, sends progress to
stderr, and writes the same object to ``--json PATH`` (default
``benchmarks/results/<name>_<date>.json``), refusing to replace a file unless
``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json PATH`` and ``--overwrite``."""
    parser.add_argument("--json", type=Path, default=None,
                        help="write the JSON here (default: benchmarks/results/NAME_DATE.json)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --json file or run folder")


def write_results(result: dict[str, Any], name: str, path: Path | None, *,
                  overwrite: bool) -> Path:
    """Print ``result`` as JSON to stdout and write it to ``path`` (refusing to overwrite)."""
    if path is None:
        path = RESULTS / f"{name}_{datetime.date.today().isoformat()}.json"
    if path.exists() and not overwrite:
        raise SystemExit(f"--json {str(path)!r} exists; pass --overwrite to replace it or "
                         f"choose another path")
    text = json.dumps(result, indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    sys.stdout.write(text)
    print(f"wrote {path}", file=sys.stderr)
    return path

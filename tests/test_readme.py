"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(capsys) -> None:  # noqa: ANN001
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out
    assert "(8, 3)" in out


def test_every_public_name_is_in_the_api_reference() -> None:
    import tlkit
    import tlkit.datasets

    api = "".join(p.read_text() for p in (README.parent / "docs" / "api").glob("*.rst"))
    names = [f"tlkit.{n}" for n in tlkit.__all__ if n != "__version__"]
    names += [f"tlkit.datasets.{n}" for n in tlkit.datasets.__all__]
    missing = [n for n in names if f":: {n}\n" not in api]
    assert not missing, f"missing from docs/api/*.rst: {missing}"

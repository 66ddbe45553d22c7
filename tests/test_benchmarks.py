"""The benchmark scripts' own logic (the benchmarks themselves run on the full data only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

LoadScript = Callable[[str], ModuleType]  # the load_script fixture (conftest.py)
ROOT = Path(__file__).resolve().parents[1]


def test_system_allocator_leaves_the_environment_alone(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setenv("LD_PRELOAD", "libkeep.so")
    env, allocator = bench.child_environment("system")
    assert allocator == "system"
    assert env["LD_PRELOAD"] == "libkeep.so"


def test_tcmalloc_is_preloaded_before_what_the_user_preloads(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setattr(bench.ctypes.util, "find_library",
                        lambda name: "libtcmalloc_minimal.so.4"
                        if name == "tcmalloc_minimal" else None)
    monkeypatch.setenv("LD_PRELOAD", "libkeep.so")
    for choice in ("auto", "tcmalloc"):
        env, allocator = bench.child_environment(choice)
        assert allocator == "libtcmalloc_minimal.so.4"
        assert env["LD_PRELOAD"] == "libtcmalloc_minimal.so.4 libkeep.so"
    monkeypatch.delenv("LD_PRELOAD")
    env, _ = bench.child_environment("auto")
    assert env["LD_PRELOAD"] == "libtcmalloc_minimal.so.4"


def test_missing_tcmalloc_falls_back_on_auto_and_fails_when_asked_for(
    load_script: LoadScript, monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    monkeypatch.setattr(bench.ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    env, allocator = bench.child_environment("auto")
    assert allocator == "system"
    assert "LD_PRELOAD" not in env
    with pytest.raises(SystemExit, match="--allocator tcmalloc: no libtcmalloc found"):
        bench.child_environment("tcmalloc")


def test_runs_into_a_named_folder_are_replaced_only_when_asked(
    load_script: LoadScript, tmp_path: Path,
) -> None:
    bench = load_script("benchmarks/caltech101.py")
    plain = bench.example_command(0, tmp_path / "seed0", "w.h5", None, [], overwrite=False)
    assert "--overwrite" not in plain
    asked = bench.example_command(0, tmp_path / "seed0", "w.h5", "data", [], overwrite=True)
    assert "--overwrite" in asked and asked[-2:] == ["--data-dir", "data"]


def test_results_are_written_by_the_script_and_never_replaced_unasked(
    load_script: LoadScript, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    results = load_script("benchmarks/_results.py")
    path = results.write_results({"a": 1}, "demo", tmp_path / "r.json", overwrite=False)
    assert json.loads(path.read_text()) == {"a": 1}
    assert json.loads(capsys.readouterr().out) == {"a": 1}  # stdout holds only the JSON
    with pytest.raises(SystemExit, match="exists; pass --overwrite"):
        results.write_results({"a": 2}, "demo", path, overwrite=False)
    results.write_results({"a": 2}, "demo", path, overwrite=True)
    assert json.loads(path.read_text()) == {"a": 2}


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "results").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_committed_result_is_valid_json(path: Path) -> None:
    result = json.loads(path.read_text())
    assert isinstance(result, dict) and result.get("benchmark")

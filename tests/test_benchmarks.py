"""The benchmark scripts' own logic (the benchmarks themselves run on the full data only)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_system_allocator_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _load("caltech101")
    monkeypatch.setenv("LD_PRELOAD", "libkeep.so")
    env, allocator = bench.child_environment("system")
    assert allocator == "system"
    assert env["LD_PRELOAD"] == "libkeep.so"


def test_tcmalloc_is_preloaded_before_what_the_user_preloads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = _load("caltech101")
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bench = _load("caltech101")
    monkeypatch.setattr(bench.ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    env, allocator = bench.child_environment("auto")
    assert allocator == "system"
    assert "LD_PRELOAD" not in env
    with pytest.raises(SystemExit, match="--allocator tcmalloc: no libtcmalloc found"):
        bench.child_environment("tcmalloc")

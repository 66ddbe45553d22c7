"""The benchmark scripts' own logic (the benchmarks themselves run on the full data only)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest

LoadScript = Callable[[str], ModuleType]  # the load_script fixture (conftest.py)


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

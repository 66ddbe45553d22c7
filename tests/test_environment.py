"""What a run records about its process: the allocator, memory, versions."""

from __future__ import annotations

from tlkit._environment import allocator_in_use, peak_memory_mb, versions


def test_allocator_is_read_from_the_process_memory_map() -> None:
    glibc = "7f00-7f10 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
    tcmalloc = "7f20-7f30 r-xp 0 08:01 2 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4\n"
    jemalloc = "7f40-7f50 r-xp 0 08:01 3 /usr/lib/libjemalloc.so.2\n"
    assert allocator_in_use(glibc) == "system"
    assert allocator_in_use(glibc + tcmalloc) == "tcmalloc"
    assert allocator_in_use(glibc + jemalloc) == "jemalloc"
    assert allocator_in_use() in {"tcmalloc", "jemalloc", "system", "unknown"}


def test_memory_and_versions() -> None:
    assert peak_memory_mb() > 10
    found = versions()
    assert set(found) == {"tlkit", "tensorflow", "keras", "python"}
    import tlkit

    assert found["tlkit"] == tlkit.__version__

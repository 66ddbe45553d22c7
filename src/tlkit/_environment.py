"""Private: facts about the running process that a run records (memory, allocator, versions)."""

from __future__ import annotations

import platform
import resource
from pathlib import Path


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if platform.system() != "Darwin" else usage / 2**20


def allocator_in_use(maps: str | None = None) -> str:
    """The malloc this process runs with: "tcmalloc", "jemalloc", "system" or "unknown".

    ``maps`` is the text of ``/proc/self/maps`` (read when not given; absent off Linux).
    """
    if maps is None:
        try:
            maps = Path("/proc/self/maps").read_text()
        except OSError:
            return "unknown"
    return next((name for name in ("tcmalloc", "jemalloc") if name in maps), "system")


def versions() -> dict[str, str]:
    """tlkit, TensorFlow, Keras and Python versions."""
    import keras
    import tensorflow as tf

    from tlkit._version import __version__

    return {"tlkit": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}

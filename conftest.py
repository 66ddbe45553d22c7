"""pytest setup for the tests and the doctests: quiet TensorFlow, a private cache folder.

It lives at the repository root (not inside ``src/tlkit``) so that it is not shipped in
the installed package.
"""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")
# Scan caches and downloads of tests and doctests go to a fresh folder, never the user's.
os.environ["TLKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="tlkit-tests-")


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: one worker per core, at most 4. Each worker imports TensorFlow and
    trains small models (about 1-2 GB at its peak); more workers than that mostly wait on
    memory and each other's threads."""
    return max(1, min(os.cpu_count() or 1, 4))

"""Private: TensorFlow's and LiteRT's native log lines kept out of a user's output.

The TFLite converter prints its settings ("fully_quantize: 0, ...") and LiteRT announces its
CPU delegate ("INFO: Created TensorFlow Lite XNNPACK delegate") from C++, on file descriptor
2, whatever Python's logging says. Those lines are noise in a normal run; a failure that
matters still raises an exception. ``TF_CPP_MIN_LOG_LEVEL=0`` (the user asking for every
line) lets them through.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def stderr_to_devnull() -> Iterator[None]:
    """Point file descriptor 2 (C++ logging writes there) at /dev/null for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Native log lines and the converter's own warnings silenced, unless the user set
    ``TF_CPP_MIN_LOG_LEVEL=0``. Wrap short native calls only (no progress bar inside)."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0":
        yield
        return
    with warnings.catch_warnings():
        # The converter warns that uint8 input statistics were "expected": tlkit sets them.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        with stderr_to_devnull():
            yield

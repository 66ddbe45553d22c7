"""Private: the one way tlkit shows progress outside ``fit()``: a tqdm bar on stderr.

Scans, downloads, feature extraction and prediction all go through
:func:`progress_bar`, so every long step looks the same and ``verbose=0`` silences
each of them. (Training keeps Keras' own per-epoch display, also set by ``verbose``.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 desc: str = "", unit: str = "it", verbose: int = 1, **kwargs: Any) -> tqdm:
    """A tqdm bar over ``iterable`` (or updated by hand), hidden when ``verbose`` is 0."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not verbose,
                dynamic_ncols=True, **kwargs)

"""Data sets: local copies or verified downloads."""

from tlkit._storage import download_file
from tlkit.datasets.caltech101 import (
    CALTECH101_MD5,
    CALTECH101_URL,
    fetch_caltech101,
    load_caltech101,
)

__all__ = ["CALTECH101_MD5", "CALTECH101_URL", "download_file", "fetch_caltech101", "load_caltech101"]

"""Where tlkit keeps files: its cache folder, and verified downloads into it.

The lowest module of the data side: :mod:`tlkit.data` (scan results) and
:mod:`tlkit.datasets` (downloaded archives) both keep their files under one cache
folder, ``$TLKIT_CACHE_DIR`` or ``~/.cache/tlkit``, and neither imports the other for it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tlkit._checks import check_bool
from tlkit._progress import progress_bar

__all__ = ["default_cache_dir", "download_file", "md5sum"]

CACHE_DIR_ENV = "TLKIT_CACHE_DIR"


def default_cache_dir() -> Path:
    """tlkit's cache folder: ``$TLKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/tlkit`` or ``~/.cache/tlkit``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tlkit"


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    """The MD5 hex digest of a file, read in chunks."""
    digest = hashlib.md5()  # noqa: S324 - a checksum, not security
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def download_file(
    url: str,
    destination: str | os.PathLike[str],
    *,
    md5: str | None = None,
    verbose: int = 1,
    timeout: float = 60.0,
    overwrite: bool = False,
) -> Path:
    """Download ``url`` to ``destination`` with a progress bar and an optional MD5 check.

    The file is written to a temporary name beside ``destination`` and renamed only
    when complete and verified, so an interrupted download never looks finished.
    An existing ``destination`` whose checksum matches ``md5`` is reused without
    download; any other existing file is kept unless ``overwrite`` is true.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        destination: Where to store the file.
        md5: Expected MD5 hex digest, or ``None`` to skip the check.
        verbose: ``1`` shows a progress bar, ``0`` is silent.
        timeout: Seconds to wait for the server.
        overwrite: Replace an existing ``destination`` that ``md5`` does not vouch for.

    Returns:
        The path of the downloaded file.

    Raises:
        ConnectionError: The address cannot be reached (the message says so).
        ValueError: The downloaded file's checksum differs from ``md5``.
        FileExistsError: ``destination`` exists, ``md5`` does not match it (or is
            ``None``), and ``overwrite`` is false.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> source = folder / "source.bin"
        >>> _ = source.write_bytes(b"tlkit")
        >>> download_file(source.as_uri(), folder / "copy.bin", verbose=0, md5="0" * 32)
        Traceback (most recent call last):
        ...
        ValueError: Checksum mismatch for ...
        >>> download_file(source.as_uri(), folder / "copy.bin", verbose=0).read_bytes()
        b'tlkit'
    """
    destination = Path(destination)
    if destination.exists():
        if md5 is not None and destination.is_file() and md5sum(destination) == md5:
            return destination
        if not check_bool("overwrite", overwrite):
            why = "no md5 was given to check it" if md5 is None else "its MD5 differs from md5"
            raise FileExistsError(
                f"destination={str(destination)!r} exists and {why}; it is kept. Pass "
                f"overwrite=True to replace it, or another destination."
            )
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=destination.name, suffix=".part",
                                        dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(
                f"Could not download {url!r}: {error}. If this machine is offline, download "
                f"the file elsewhere and pass its local copy instead."
            ) from error
        with response, os.fdopen(handle, "wb") as out:
            total = response.headers.get("Content-Length")
            with progress_bar(total=int(total) if total else None, unit="B", unit_scale=True,
                              unit_divisor=1024, desc=f"Downloading {destination.name}",
                              verbose=verbose) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
        if md5 is not None:
            actual = md5sum(tmp)
            if actual != md5:
                raise ValueError(
                    f"Checksum mismatch for {url!r}: expected MD5 {md5}, got {actual}. The "
                    f"download is corrupt or the file changed; nothing was kept."
                )
        tmp.replace(destination)
    finally:
        if tmp.exists():
            tmp.unlink()
    return destination

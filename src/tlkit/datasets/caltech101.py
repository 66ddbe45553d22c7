"""Caltech-101: use a local copy, or download, verify and extract the official archive."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from tlkit._progress import progress_bar
from tlkit._storage import default_cache_dir, download_file
from tlkit.data import ImageFolder

__all__ = [
    "CALTECH101_MD5",
    "CALTECH101_URL",
    "download_file",
    "fetch_caltech101",
    "load_caltech101",
]

CALTECH101_URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip?download=1"
"""Official Caltech-101 archive (CaltechDATA record mzrjq-6wc02)."""

CALTECH101_MD5 = "3138e1922a9193bfa496528edbbc45d0"
"""MD5 of the official archive (the value torchvision checks)."""

_FOLDER = "101_ObjectCategories"


def _check_layout(folder: Path, argument: str) -> Path:
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{argument}={str(folder)!r} does not exist or is not a folder. Expected the "
            f"Caltech-101 '{_FOLDER}' folder (one sub-folder per class), or its parent."
        )
    if (folder / _FOLDER).is_dir():
        folder = folder / _FOLDER
    classes = [p for p in folder.iterdir() if p.is_dir()]
    if len(classes) < 101:
        raise ValueError(
            f"{argument}={str(folder)!r} does not look like Caltech-101: expected at least 101 "
            f"class folders (102 with BACKGROUND_Google), found {len(classes)}."
        )
    return folder


def fetch_caltech101(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    url: str = CALTECH101_URL,
    md5: str | None = CALTECH101_MD5,
    verbose: int = 1,
) -> Path:
    """Return the path of a Caltech-101 ``101_ObjectCategories`` folder.

    With ``data_dir`` it checks and uses that local copy (the folder itself or its
    parent). Without it, it looks in ``cache_dir`` (default ``$TLKIT_CACHE_DIR`` or
    ``~/.cache/tlkit``) and, if absent and ``download`` is true, downloads the
    official archive with a progress bar, verifies its MD5, extracts the inner
    ``101_ObjectCategories.tar.gz`` and reuses it next time.

    Args:
        data_dir: A local copy, or ``None``.
        download: Allow downloading when there is no local or cached copy.
        cache_dir: Where downloads and extracted files live.
        url: Address of the archive (override for a mirror).
        md5: Expected MD5 of the archive (``None`` skips the check).
        verbose: ``1`` shows progress bars, ``0`` is silent.

    Returns:
        The ``101_ObjectCategories`` folder.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist, or there is no copy and
            ``download`` is false.
        ValueError: The folder does not have Caltech-101's layout, or the archive's
            checksum or content is wrong.
        ConnectionError: The download failed (e.g. offline); the message says how
            to use a local copy.

    Example:
        >>> fetch_caltech101("/no/such/folder")
        Traceback (most recent call last):
        ...
        FileNotFoundError: data_dir='/no/such/folder' does not exist or is not a folder. ...
    """
    if data_dir is not None:
        return _check_layout(Path(data_dir), "data_dir")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / "caltech101"
    if (target / _FOLDER).is_dir():
        return _check_layout(target / _FOLDER, "cache_dir")
    if not download:
        raise FileNotFoundError(
            f"No Caltech-101 copy in {str(target)!r} and download=False. Pass data_dir= the "
            f"local '{_FOLDER}' folder, or allow the download."
        )
    archive = target / "caltech-101.zip"
    try:
        download_file(url, archive, md5=md5, verbose=verbose)
    except ConnectionError as error:
        raise ConnectionError(
            f"{error} To use a local copy, pass data_dir='/path/to/{_FOLDER}' (or "
            f"--data-dir on the command line)."
        ) from error
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        scratch_path = Path(scratch)
        try:
            with zipfile.ZipFile(archive) as outer:
                member = next(
                    (n for n in outer.namelist() if n.endswith(f"{_FOLDER}.tar.gz")), None
                )
                if member is None:
                    raise ValueError(
                        f"{str(archive)!r} has no {_FOLDER}.tar.gz inside; is it the Caltech-101 "
                        f"archive?"
                    )
                inner = Path(outer.extract(member, scratch_path))
        except zipfile.BadZipFile as error:
            raise ValueError(f"{str(archive)!r} is not a valid zip archive: {error}") from error
        with tarfile.open(inner, "r:gz") as tar:
            members = tar.getmembers()
            for item in progress_bar(members, desc="Extracting", unit="file", verbose=verbose):
                if hasattr(tarfile, "data_filter"):
                    tar.extract(item, scratch_path / "out", filter="data")
                else:  # Python < 3.10.12: refuse paths that leave the folder
                    if Path(item.name).is_absolute() or ".." in Path(item.name).parts:
                        raise ValueError(f"Unsafe path {item.name!r} in {str(inner)!r}.")
                    tar.extract(item, scratch_path / "out")
        extracted = scratch_path / "out" / _FOLDER
        if not extracted.is_dir():
            raise ValueError(f"{str(inner)!r} does not contain a {_FOLDER}/ folder.")
        shutil.move(str(extracted), str(target / _FOLDER))
    return _check_layout(target / _FOLDER, "cache_dir")


def load_caltech101(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    include_background: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    **folder_kwargs: Any,
) -> ImageFolder:
    """Caltech-101 as a checked :class:`tlkit.ImageFolder`.

    Uses the local copy ``data_dir`` when given, otherwise the cached or downloaded
    archive (see :func:`fetch_caltech101`). The 101 object classes come without the
    ``BACKGROUND_Google`` clutter class unless ``include_background``.

    Args:
        data_dir: A local ``101_ObjectCategories`` folder (or its parent), or ``None``.
        download: Allow downloading when there is no local or cached copy.
        include_background: Keep ``BACKGROUND_Google`` as a 102nd class.
        cache_dir: tlkit's cache folder, for both the downloaded archive and the
            scan results (default ``$TLKIT_CACHE_DIR`` or ``~/.cache/tlkit``).
        verbose: ``1`` shows progress bars (download, extraction, scan), ``0`` is silent.
        **folder_kwargs: Passed to :class:`tlkit.ImageFolder` (e.g. ``strict``).

    Returns:
        The image folder: 8,677 images in 101 classes for the official data.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist, or no copy and ``download``
            is false.
        ConnectionError: The download failed; the message says how to use a local copy.

    Example:
        >>> load_caltech101("/no/such/folder", download=False)
        Traceback (most recent call last):
        ...
        FileNotFoundError: data_dir='/no/such/folder' does not exist or is not a folder. ...
    """
    root = fetch_caltech101(data_dir, download=download, cache_dir=cache_dir, verbose=verbose)
    exclude = () if include_background else ("BACKGROUND_Google",)
    if not (root / "BACKGROUND_Google").is_dir():
        exclude = ()
    return ImageFolder(root, exclude=exclude, cache_dir=cache_dir, verbose=verbose,
                       **folder_kwargs)

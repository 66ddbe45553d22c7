"""Private: where an export's files go, and what an export may replace.

``overwrite=True`` replaces an earlier export of the same format, and nothing else: never a
run folder, a data folder or a file that is not an exported model, whatever path was typed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tlkit.model_card import ModelCard, card_path

# What a SavedModel export folder holds; anything else in it is the user's.
_SAVEDMODEL_FILES = {"saved_model.pb", "fingerprint.pb", "variables", "assets", "tlkit.json",
                     "model_card.json", "labels.txt"}


def labels_path(path: Path) -> Path:
    """The class names file of an export: inside a folder, or ``<file>.labels.txt``."""
    return path / "labels.txt" if path.is_dir() else path.with_name(path.name + ".labels.txt")


def check_replaceable(path: Path, format: str) -> None:  # noqa: A002
    """Refuse to overwrite anything but an earlier export of the same format.

    ``overwrite=True`` replaces an export; it must never delete a run folder, a data
    folder or a file that is not an exported model, whatever path was typed.
    """
    if path.is_dir() and format != "savedmodel":
        raise FileExistsError(f"path={str(path)!r} is a folder; a {format} export is one file. "
                              f"Give a file name (e.g. {str(path / ('model.' + format))!r}).")
    if path.is_dir() and not any(path.iterdir()):
        return  # an empty folder holds nothing to lose
    if format == "savedmodel":
        names = {p.name for p in path.iterdir()} if path.is_dir() else set()
        foreign = sorted(names - _SAVEDMODEL_FILES)
        if not path.is_dir() or "saved_model.pb" not in names or foreign:
            what = f"it holds {foreign[:5]}" if foreign else \
                "it is a file" if not path.is_dir() else "it has no saved_model.pb"
            raise FileExistsError(
                f"path={str(path)!r} is not an earlier SavedModel export ({what}); "
                f"overwrite=True replaces only an export. Choose another path.")
    else:
        with path.open("rb") as file:
            head = file.read(8)
        # The TFLite flatbuffer's identifier. ONNX has none (a protobuf's first byte is
        # shared by many files, a SavedModel's saved_model.pb too): its card must say so.
        ours = head[4:8] == b"TFL3" if format == "tflite" else _card_format(path) == "onnx"
        if not ours:
            raise FileExistsError(
                f"path={str(path)!r} is not an earlier .{format} export (it is another kind of "
                f"file); overwrite=True replaces only an export. Choose another path.")


def check_side_files(path: Path, *, overwrite: bool) -> None:
    """Refuse to replace a card or labels file beside a file export unless it is an export's.

    ``<file>.json`` and ``<file>.labels.txt`` are written beside the file: a file of the
    user's with one of those names is never replaced, nor is anything without ``overwrite``.
    """
    sides = [side for side in (card_path(path), labels_path(path)) if side.exists()]
    if not sides:
        return
    if not overwrite:
        raise FileExistsError(f"{str(sides[0])!r} exists beside path={str(path)!r} and would be "
                              f"replaced; pass overwrite=True (--overwrite) to replace an "
                              f"earlier export, or choose another path.")
    if _card_format(path) is None:
        raise FileExistsError(
            f"{str(sides[0])!r} is beside path={str(path)!r} but {card_path(path).name!r} is "
            f"not a tlkit model card; overwrite=True replaces only an export's files. "
            f"Choose another path.")


def staging_path(path: Path) -> Path:
    """Where an export is written before it replaces ``path`` (same folder, hidden name).

    The earlier export stays whole until the new one is complete: a conversion that fails
    leaves it as it was.
    """
    staged = path.with_name(f".{path.stem}.partial{path.suffix}")
    remove(staged)  # left by an export that was killed
    return staged


def replace_with(staged: Path, path: Path) -> None:
    """Move a complete export from ``staged`` to ``path``, removing the earlier one's files."""
    if path.is_dir():  # checked by check_replaceable: an earlier SavedModel, or empty
        shutil.rmtree(path)
    elif not staged.is_dir():  # a file: its earlier card and labels (check_side_files)
        for side in (card_path(path), labels_path(path)):
            if side.is_file():
                side.unlink()
    os.replace(staged, path)


def remove(path: Path) -> None:
    """Delete a file or folder tlkit wrote, if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _card_format(path: Path) -> str | None:
    """The ``format`` of the tlkit card beside a file, or ``None`` when it has none."""
    try:
        card = ModelCard.read(path)
    except ValueError:  # not a card tlkit can read: the user's file
        return None
    return None if card is None else card.format

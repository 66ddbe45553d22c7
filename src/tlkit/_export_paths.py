"""Private: where an export's files go, and what an export may replace.

``overwrite=True`` replaces an earlier export of the same format, and nothing else: never a
run folder, a data folder or a file that is not an exported model, whatever path was typed.
"""

from __future__ import annotations

from pathlib import Path

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
        # The TFLite flatbuffer's identifier; an ONNX ModelProto's first field (ir_version).
        ours = head[4:8] == b"TFL3" if format == "tflite" else head[:1] == b"\x08"
        if not ours:
            raise FileExistsError(
                f"path={str(path)!r} is not an earlier .{format} export (it is another kind of "
                f"file); overwrite=True replaces only an export. Choose another path.")

"""Pre-split trees: ``root/train/<class>/``, ``root/val/<class>/``, ``root/test/<class>/``.

Most data sets people download come so (Kaggle, the Ultralytics classify layout,
tf_flowers mirrors); read as one folder of classes they would train a model of the
classes "train", "val" and "test". :meth:`tlkit.ImageFolder.from_splits` reads them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["find_split_folders", "part_folder"]

# Folder names of the pre-split layout (root/train/<class>/, root/val/<class>/, ...): the
# names Kaggle sets, the Ultralytics classify layout and tf_flowers mirrors use.
_SPLIT_FOLDER_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val",
                      "test": "test"}


def find_split_folders(root: str | os.PathLike[str]) -> dict[str, Path] | None:
    """The split folders of a pre-split tree (``train/``, ``val/``, ``test/``), or ``None``.

    A tree is pre-split when every folder in ``root`` (but ``__MACOSX``) is a split name,
    ``train`` among them, each holding class folders and no image of its own. A folder of
    classes, one of which happens to be called ``train`` (vehicles), is not. A tree that is
    neither (``train/`` and ``test/`` of class folders beside a stray ``runs/``) is an error.

    Args:
        root: The folder to look at.

    Returns:
        ``{"train": path, "val": path, "test": path}`` for the parts present, or
        ``None`` when ``root`` is a folder of classes.

    Raises:
        ValueError: The tree looks pre-split but is not quite: two folders for one part
            (``val`` and ``validation``), no ``train``, files directly in a split folder,
            or other folders beside the split folders.

    Example:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for part in ("train", "valid"):
        ...     (root / part / "cat").mkdir(parents=True)
        >>> sorted(find_split_folders(root))
        ['train', 'val']
        >>> vehicles = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("bus", "train"):
        ...     (vehicles / name).mkdir()
        ...     _ = (vehicles / name / "1.jpg").write_bytes(b"...")
        >>> find_split_folders(vehicles) is None
        True
    """
    root = Path(root)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.name != "__MACOSX")  # what a zip made on a Mac leaves
    split_named = [p for p in folders if p.name.lower() in _SPLIT_FOLDER_NAMES]
    others = [p.name for p in folders if p not in split_named]
    if others:
        # Classes that happen to be called "train" (vehicles) are classes; but train/ and
        # test/ both holding only class folders beside a stray folder is a pre-split tree.
        looks_split = len(split_named) >= 2 and any(
            p.name.lower() == "train" for p in split_named) and all(
            not any(q.is_file() for q in p.iterdir()) and any(q.is_dir() for q in p.iterdir())
            for p in split_named)
        if looks_split:
            raise ValueError(
                f"root={str(root)!r} looks pre-split ({', '.join(p.name for p in split_named)}) "
                f"but also holds {others[:5]}: move those out, or (for a folder of classes "
                f"named so) add images directly to the class folders.")
        return None
    if not folders:
        return None
    parts: dict[str, Path] = {}
    for folder in folders:
        part = _SPLIT_FOLDER_NAMES[folder.name.lower()]
        if part in parts:
            raise ValueError(
                f"root={str(root)!r} has two folders for the {part} split: "
                f"{parts[part].name!r} and {folder.name!r}; keep one.")
        parts[part] = folder
    loose = [p.name for folder in parts.values() for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".")]
    if "train" not in parts or loose:
        raise ValueError(
            f"root={str(root)!r} holds only split folders ({', '.join(p.name for p in folders)}) "
            f"but is not a pre-split tree: expected train/<class>/ (and optionally val/<class>/, "
            f"test/<class>/) with images only inside class folders"
            + (f"; found files directly in a split folder: {loose[:5]}" if loose else
               "; there is no train folder")
            + ". For classes that are really called so, add the other class folders.")
    return parts


def part_folder(cls: Any, folder: Path, exclude: list[str], **kwargs: Any) -> Any:
    """A val or test folder as ``cls`` (an ImageFolder), or ``None`` when it has no class.

    Class folders without a file are left out (split scripts leave them for classes too
    small to split), and said.
    """
    classes = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    empty = sorted(p.name for p in classes if not any(q.is_file() for q in p.rglob("*")))
    if empty:
        warnings.warn(f"{folder.name}/ has empty class folders, left out: {empty[:10]}.",
                      stacklevel=3)
    skip = [e for e in exclude if (folder / e).is_dir()] + empty
    if len(skip) == len(classes):
        return None
    return cls(folder, exclude=skip, **kwargs)

"""Private: which files of a run folder a save writes, keeps or copies, and the data root."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd

from tlkit.data import ImageSet, Split


def carried_files(run: Any) -> list[str]:
    """Run files this save cannot write again but the folder it was loaded from has.

    A loaded run has no reports (and may have no images for the preview): saving
    it, into its own folder or another, keeps or copies them instead of dropping them.
    """
    if run.source is None:
        return []
    written = {"report": bool(run.reports), "split.csv": run.split is not None,
               "history.png": len(run.history) > 0,
               "augmentation_preview.png": preview_images(run) is not None}
    return [name for name, rewritten in written.items()
            if not rewritten and (run.source / name).exists()]


def preview_images(run: Any) -> ImageSet | None:
    """Four training images for the augmentation preview, if there are and they exist."""
    train = run.split.train if run.split is not None else None
    if run.options.policy() is None or train is None or not len(train):
        return None
    pick = train.subset(np.linspace(0, len(train) - 1, num=min(4, len(train))).astype(int))
    return pick if all(os.path.isfile(p) for p in pick.paths) else None


def data_root_of(split: Split | None) -> str | None:
    """The deepest folder holding every image of ``split`` (absolute), or ``None``."""
    paths = [os.path.abspath(p) for part in (split or ()) for p in part.paths]
    return os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else None


def read_split(path: Any, names: list[str], saved_root: str | None,
               data_root: Any) -> Split | None:
    """The split of a run folder's ``split.csv`` (``None`` if absent), images under
    ``data_root`` when given (they moved), else under the root the run was saved with."""
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    if saved_root is None and len(table):  # saved with absolute paths (before 0.x)
        saved_root = os.path.commonpath([os.path.dirname(p) for p in table["path"]])
        table["path"] = [os.path.relpath(p, saved_root) for p in table["path"]]
    root = os.fspath(data_root) if data_root is not None else saved_root or ""
    paths = table["path"].map(lambda p: os.path.join(root, p))
    labels = table["class"].map({n: i for i, n in enumerate(names)})
    return Split(*(ImageSet(paths[table["split"] == part].tolist(),
                            labels[table["split"] == part].to_numpy(), names)
                   for part in ("train", "val", "test")))

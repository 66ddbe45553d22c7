"""DataAudit: what an audit found, as tables, and the folder it writes."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tlkit._checks import check_bool

__all__ = ["AUDIT_FILES", "DataAudit"]

AUDIT_FILES = ("label_issues.csv", "duplicates.csv", "outliers.csv", "class_overlap.csv",
               "audit.json", "index.html")
"""Every file :meth:`DataAudit.save` writes."""


@dataclasses.dataclass(repr=False)
class DataAudit:
    """The findings of :func:`tlkit.audit` on a set of labelled images.

    Attributes:
        label_issues: Every image, most suspicious label first: ``path``, ``given``,
            ``suggested``, ``score`` (out-of-fold probability of the given label; low is
            suspicious), ``suggested_confidence``, ``is_issue`` (among the first as many
            rows as cleanlab estimates labels are wrong),
            ``verdict`` (``"wrong label"``: the model is sure of another class;
            ``"unusual image"``: it is sure of none; ``""`` when not an issue) and
            ``typicality`` (similarity to the nearest class's mean), plus ``split`` for a Split.
        duplicates: Exact and near duplicate pairs: ``path_a``, ``path_b``,
            ``similarity``, ``kind`` (``"exact"``/``"near"``), ``given_a``, ``given_b``,
            ``classes`` (``"same"``/``"different"``), ``splits`` (e.g. ``"train/test"``).
        outliers: Images far from every class: ``path``, ``given``, ``nearest_class``,
            ``similarity``, ``z``.
        class_overlap: Class pairs the out-of-fold model confuses, or that share photos:
            ``class_a``, ``class_b``, ``a_as_b``, ``b_as_a`` (counts), ``a_as_b_rate``,
            ``b_as_a_rate`` (shares of each class), ``rate`` (the larger),
            ``shared_photos`` (duplicate pairs across the two).
        settings: How the audit ran (backbone, weights, image size, folds, seed, ...).
        seconds: Wall seconds per step (``extraction``, ``the rest``, ``total``).
        features: The ``(n, channels)`` backbone features, in the order of ``paths``
            (e.g. for :func:`tlkit.count_near_duplicates`).
        paths: The audited image files.
    """

    label_issues: pd.DataFrame
    duplicates: pd.DataFrame
    outliers: pd.DataFrame
    class_overlap: pd.DataFrame
    settings: dict[str, Any]
    seconds: dict[str, float]
    features: np.ndarray
    paths: list[str]

    @property
    def counts(self) -> dict[str, int]:
        """How many images, classes and findings of each kind."""
        issues, pairs = self.label_issues, self.duplicates
        counts = {
            "images": len(issues), "classes": int(self.settings.get("classes", 0)),
            "label_issues": int(issues["is_issue"].sum()),
            "likely_wrong_labels": int((issues["verdict"] == "wrong label").sum()),
            "unusual_images": int((issues["verdict"] == "unusual image").sum()),
            "exact_duplicate_pairs": int((pairs["kind"] == "exact").sum()),
            "near_duplicate_pairs": int((pairs["kind"] == "near").sum()),
            "duplicate_pairs_across_classes": int((pairs["classes"] == "different").sum()),
            "outliers": len(self.outliers),
            "overlapping_class_pairs": len(self.class_overlap)}
        if "split" in issues.columns:
            counts["duplicate_pairs_across_splits"] = int((pairs["splits"] != "").sum())
        return counts

    def to_dict(self) -> dict[str, Any]:
        """The content of ``audit.json``: counts, settings and wall seconds."""
        return {"counts": self.counts, "settings": dict(self.settings),
                "seconds": {k: round(float(v), 2) for k, v in self.seconds.items()}}

    def __repr__(self) -> str:
        counts = self.counts
        return (f"DataAudit({counts['images']} images: {counts['label_issues']} label issues "
                f"({counts['likely_wrong_labels']} likely wrong labels), "
                f"{counts['exact_duplicate_pairs'] + counts['near_duplicate_pairs']} duplicate "
                f"pairs, {counts['outliers']} outliers)")

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False,
             ) -> dict[str, Path]:
        """Write the CSV tables, ``audit.json`` and the page ``index.html``.

        Args:
            directory: Created if needed.
            overwrite: Replace an earlier audit in ``directory``; otherwise one is an
                error and nothing is written.

        Returns:
            ``{file_name: path}`` of every file written.

        Raises:
            FileExistsError: ``directory`` holds an audit and ``overwrite`` is false.
        """
        from tlkit.auditing.page import audit_page

        overwrite = check_bool("overwrite", overwrite)
        folder = Path(directory)
        existing = [n for n in AUDIT_FILES if (folder / n).exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"directory={str(folder)!r} already holds an audit ({', '.join(existing)}); "
                f"pass overwrite=True to replace it or choose another directory.")
        folder.mkdir(parents=True, exist_ok=True)
        paths = {n: folder / n for n in AUDIT_FILES}
        tables = {"label_issues": self.label_issues, "duplicates": self.duplicates,
                  "outliers": self.outliers, "class_overlap": self.class_overlap}
        for name, table in tables.items():
            table.to_csv(paths[f"{name}.csv"], index=False)
        summary = self.to_dict()
        paths["audit.json"].write_text(json.dumps(summary, indent=2))
        paths["index.html"].write_text(audit_page(tables, summary, list(paths)))
        return paths

"""Writing a report to a folder: JSON, CSV tables, PNG plots and one HTML page."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from tlkit._checks import check_bool
from tlkit.evaluation.metrics import ReportMetrics
from tlkit.evaluation.plots import plot_confusion_matrix, plot_per_class_recall, plot_reliability
from tlkit.evaluation.render import to_html, to_markdown

__all__ = ["REPORT_FILES", "save_report"]

REPORT_FILES = ("report.json", "per_class.csv", "confusion_matrix.csv", "most_confused.csv",
                "confusion_matrix.png", "per_class_recall.png", "reliability.png", "report.md",
                "index.html")
"""Every file a saved report can hold (``reliability.png`` only when it has scores)."""


def save_report(report: ReportMetrics, directory: str | os.PathLike[str], *,
                overwrite: bool = False) -> dict[str, Path]:
    """Write ``report``: JSON, CSV tables, PNG plots and one self-contained HTML page.

    Files: ``report.json``, ``per_class.csv``, ``confusion_matrix.csv`` (counts,
    with class names), ``most_confused.csv``, ``confusion_matrix.png``,
    ``per_class_recall.png``, ``reliability.png`` (when there are scores),
    ``report.md`` and ``index.html`` (opens without a server). Other files in the
    folder are left alone.

    Args:
        report: The report to write.
        directory: Created if needed.
        overwrite: Replace an earlier report in ``directory`` (its files that this one
            does not write again are removed, so no stale figure is left beside the new
            ones); otherwise an earlier report is an error and nothing is written.

    Returns:
        ``{file_name: path}`` of every file written.

    Raises:
        FileExistsError: ``directory`` holds a report and ``overwrite`` is false.

    Example:
        >>> import tempfile
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 1], [0, 1, 0], class_names=["a", "b"])
        >>> sorted(save_report(report, tempfile.mkdtemp()))[:3]
        ['confusion_matrix.csv', 'confusion_matrix.png', 'index.html']
    """
    overwrite = check_bool("overwrite", overwrite)
    folder = Path(directory)
    names = [n for n in REPORT_FILES if n != "reliability.png" or report.y_score is not None]
    existing = [n for n in REPORT_FILES if (folder / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"directory={str(folder)!r} already holds a report ({', '.join(existing)}); pass "
            f"overwrite=True to replace it or choose another directory."
        )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in set(existing) - set(names):
        (folder / stale).unlink()
    paths = {n: folder / n for n in names}
    paths["report.json"].write_text(json.dumps(report.to_dict(), indent=2))
    report.per_class.to_csv(paths["per_class.csv"])
    pd.DataFrame(report.confusion_matrix(), index=pd.Index(report.class_names, name="true"),
                 columns=report.class_names).to_csv(paths["confusion_matrix.csv"])
    report.most_confused(50).to_csv(paths["most_confused.csv"], index=False)
    paths["report.md"].write_text(to_markdown(report))
    axes = {
        "confusion_matrix.png": plot_confusion_matrix(report),
        "per_class_recall.png": plot_per_class_recall(report),
    }
    if report.y_score is not None:
        axes["reliability.png"] = plot_reliability(report)
    for name, ax in axes.items():
        ax.figure.savefig(paths[name], dpi=110)
    paths["index.html"].write_text(to_html(report, list(axes)))
    return paths

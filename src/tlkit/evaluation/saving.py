"""Writing a report to a folder: JSON, CSV tables, PNG plots and one HTML page."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from tlkit._checks import check_bool, type_error
from tlkit._environment import versions
from tlkit.evaluation.metrics import ReportMetrics
from tlkit.evaluation.page import to_html
from tlkit.evaluation.gallery import plot_sample
from tlkit.evaluation.plots import plot_confusion_matrix, plot_per_class_recall, plot_reliability
from tlkit.evaluation.render import to_markdown

__all__ = ["REPORT_FILES", "save_report"]

REPORT_FILES = ("report.json", "predictions.csv", "per_class.csv", "confusion_matrix.csv",
                "most_confused.csv", "confusion_matrix_top.png", "confusion_matrix.png",
                "per_class_recall.png", "reliability.png", "predictions_sample.png", "report.md",
                "index.html")
"""Every file a saved report can hold (``reliability.png`` only when it has scores, ``predictions_sample.png`` only with ``paths``,
``confusion_matrix_top.png`` only when some image was misclassified)."""

TOP_CONFUSIONS = 20
"""The zoomed confusion matrix shows the classes of this many most frequent confusions."""

WORST_CLASSES = 30
"""Above 40 classes, the recall figure shows this many worst classes (the table has all)."""


def _figures(report: ReportMetrics) -> dict[str, tuple[object, str]]:
    """``{file name: (Axes, caption in words)}`` of the report's figures."""
    k = report.num_classes
    figures: dict[str, tuple[object, str]] = {}
    if len(report.most_confused(1)):
        figures["confusion_matrix_top.png"] = (
            plot_confusion_matrix(report, only_confused=TOP_CONFUSIONS),
            f"The classes involved in the {TOP_CONFUSIONS} most frequent confusions, those "
            f"confused with each other side by side. Each row is a true class, each column a "
            f"prediction, the last column every class outside the zoom, so a row adds up to "
            f"1; the colour is the share of the row's images on a square-root scale, so rare "
            f"confusions show (blank: none). The diagonal is right.")
    figures["confusion_matrix.png"] = (
        plot_confusion_matrix(report),
        f"The full confusion matrix of all {k} classes, as shares of each true class")
    worst = WORST_CLASSES if k > 40 else None
    figures["per_class_recall.png"] = (
        plot_per_class_recall(report, worst=worst),
        ("Recall per class" if worst is None else f"Recall of the {worst} worst classes")
        + ": the share of each class's images classified right; n is the class's number "
        "of images here, so a low recall on few images is a weak signal.")
    if report.y_score is not None:
        figures["reliability.png"] = (
            plot_reliability(report),
            "Calibration: images are grouped by the probability the model gave its "
            "prediction; each bar is how often those predictions were right, its number "
            "how many images it holds. A calibrated model follows the diagonal.")
    if report.paths is not None:
        figures["predictions_sample.png"] = (
            plot_sample(report)[0],
            "Images picked at random, right and wrong alike: the answer and its probability "
            "above each (green: right; red: wrong, with the true class).")
    return figures


def save_report(report: ReportMetrics, directory: str | os.PathLike[str], *,
                overwrite: bool = False,
                links: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``report``: JSON, CSV tables, PNG plots and one self-contained HTML page.

    Files: ``report.json`` (figures and context), ``predictions.csv`` (one row per
    image: path when known, true and predicted class, confidence, loss),
    ``per_class.csv``, ``confusion_matrix.csv`` (counts, with class names),
    ``most_confused.csv`` (every confused pair), ``confusion_matrix_top.png`` (the
    classes of the most frequent confusions), ``confusion_matrix.png`` (all classes),
    ``per_class_recall.png``, ``reliability.png`` (when there are scores),
    ``report.md`` and ``index.html``. The page opens without a server: the report's
    context on top, the headline figures, the most confident mistakes as thumbnails
    (when the report knows its image files), the most confused pairs with examples,
    the figures with captions, and the per-class table worst first. Other files in
    the folder are left alone.

    Args:
        report: The report to write.
        directory: Created if needed.
        overwrite: Replace an earlier report in ``directory`` (its files that this one
            does not write again are removed, so no stale figure is left beside the new
            ones); otherwise an earlier report is an error and nothing is written.
        links: ``{label: URL relative to directory}`` of related files the page links
            to, e.g. ``{"training curves": "../history.png"}`` in a run folder.

    Returns:
        ``{file_name: path}`` of every file written.

    Raises:
        FileExistsError: ``directory`` holds a report and ``overwrite`` is false.

    Example:
        >>> import tempfile
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 1], [0, 1, 0], class_names=["a", "b"])
        >>> files = save_report(report, tempfile.mkdtemp(),
        ...                     links={"training curves": "../history.png"})
        >>> files["index.html"].name, len(files)
        ('index.html', 10)
    """
    overwrite = check_bool("overwrite", overwrite)
    if links is not None and not (isinstance(links, Mapping) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in links.items())):
        raise type_error("links", links, "a mapping of labels to relative URLs (strings)")
    folder = Path(directory)
    figures = _figures(report)
    names = [n for n in REPORT_FILES if not n.endswith(".png") or n in figures]
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
    report.predictions.to_csv(paths["predictions.csv"])
    report.per_class.to_csv(paths["per_class.csv"])
    pd.DataFrame(report.confusion_matrix(), index=pd.Index(report.class_names, name="true"),
                 columns=report.class_names).to_csv(paths["confusion_matrix.csv"])
    report.most_confused(report.num_classes ** 2).to_csv(paths["most_confused.csv"],
                                                         index=False)
    paths["report.md"].write_text(to_markdown(report))
    for name, (ax, _) in figures.items():
        # "tight": no blank margin around a square matrix or a legend below the axes.
        # Photographs compress badly as PNG: their figure is drawn at a lower resolution.
        ax.figure.savefig(paths[name], dpi=72 if name == "predictions_sample.png" else 110,
                          bbox_inches="tight")
    env = versions()
    written = {"written": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} "
                          f"UTC by tlkit {env['tlkit']} (TensorFlow {env['tensorflow']}, "
                          f"Keras {env['keras']})"}
    paths["index.html"].write_text(to_html(
        report, {name: caption for name, (_, caption) in figures.items()}, list(paths),
        links=links, written=written))
    return paths

"""Plots of a report: confusion matrix, per-class recall, reliability diagram.

Each takes an optional ``ax=`` to draw into one panel of your own figure (as
scikit-learn's ``ConfusionMatrixDisplay.plot(ax=...)`` does) and returns the Axes it
drew into; without ``ax`` it makes a figure sized for the number of classes.
Figures are made without pyplot, so nothing piles up in pyplot's global state.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tlkit._checks import check_int
from tlkit.calibration import expected_calibration_error, reliability_table
from tlkit.evaluation.metrics import ReportMetrics

__all__ = ["RECALL_BANDS", "plot_confusion_matrix", "plot_per_class_recall", "plot_reliability"]


def plot_confusion_matrix(
    report: ReportMetrics,
    *,
    normalize: str | None = "true",
    only_confused: int | None = None,
    annotate: bool | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The confusion matrix as a seaborn heatmap, readable up to 101+ classes.

    Args:
        report: The report to draw.
        normalize: ``"true"`` (row fractions, the default) or ``None`` (counts).
        only_confused: Show only the classes involved in the ``only_confused``
            most frequent confusions.
        annotate: Write the values in the cells (default: when 30 classes or fewer
            are shown).
        ax: Axes to draw into (e.g. one panel of your own figure); default: a new
            figure sized for the number of classes.

    Returns:
        The Axes drawn into (``ax.figure`` is its figure), one labelled row and
        column per class shown.

    Example:
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 2, 2], [0, 1, 2, 0], class_names=["a", "b", "c"])
        >>> plot_confusion_matrix(report).get_xlabel()
        'predicted class'
    """
    import seaborn as sns

    matrix = report.confusion_matrix(normalize)
    indices = np.arange(report.num_classes)
    other = None
    if only_confused is not None:
        indices = _grouped(report, only_confused)
        # Rows of a zoom still add up: what went to classes outside it is one more column.
        other = matrix[indices].sum(axis=1) - matrix[np.ix_(indices, indices)].sum(axis=1)
    sub = matrix[np.ix_(indices, indices)]
    names = [report.class_names[i] for i in indices]
    if other is not None:
        sub = np.column_stack([sub, np.clip(other, 0, None)])
    k = len(names)
    annotate = k <= 30 if annotate is None else annotate
    # About 0.17 inch per class keeps 7-pt labels legible at 101 classes; a cell holding
    # a value ("0.25") needs about twice that.
    side = min(max(5.0, (0.34 if annotate else 0.17) * k + 3.0), 30.0)
    font = 9.0 if k <= 40 else 7.0
    ax = ax if ax is not None else Figure(figsize=(side + 1.5, side),
                                          layout="constrained").subplots()
    vmax = 1.0 if normalize else max(float(sub.max()), 1.0)
    # Square-root colour scale and blank zero cells, so rare confusions stay visible.
    # No tick labels from seaborn (they are set below): its check for overlapping labels
    # measures each one on a fresh full-size canvas, 26 s of a 101-class report here.
    sns.heatmap(
        sub, ax=ax, cmap="Blues", square=True, mask=sub == 0,
        xticklabels=False, yticklabels=False,
        norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax),
        annot=annotate, fmt=".2f" if normalize else "d", linewidths=0.0,
        annot_kws={"fontsize": 7.0},
        cbar_kws={"shrink": 0.5, "label": ("fraction of true class" if normalize else "count")
                  + " (square-root colour scale)"},
    )
    ax.set_facecolor("white")
    columns = names + (["other classes"] if other is not None else [])
    ax.set_xticks(np.arange(len(columns)) + 0.5)
    ax.set_yticks(np.arange(k) + 0.5)
    ax.set_xticklabels(columns, rotation=90, fontsize=font)
    ax.set_yticklabels(names, rotation=0, fontsize=font)
    if other is not None:
        ax.axvline(k, color="#888888", linewidth=1.0)
    ax.set_xlim(0, len(columns))
    ax.set_ylim(k, 0)
    ax.grid(False)
    for edge in range(0, k + 1, 10 if k > 40 else k):
        ax.axhline(edge, color="#eeeeee", linewidth=0.5)
        ax.axvline(edge, color="#eeeeee", linewidth=0.5)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    title = "Confusion matrix" + (" (fraction of true class)" if normalize else " (counts)")
    if only_confused is not None:
        title += (f"\nclasses in the top {only_confused} confusions, confused classes side by "
                  f"side; last column: the rest of the row")
    ax.set_title(title)
    return ax


def _grouped(report: ReportMetrics, count: int) -> np.ndarray:
    """The classes of the ``count`` most frequent confusions, those confused with each other
    side by side: groups (connected by a confusion) in the order of their largest one."""
    pairs = report.most_confused(count)
    index = {name: i for i, name in enumerate(report.class_names)}
    if pairs.empty:
        return np.arange(min(report.num_classes, 10))
    group: dict[int, int] = {}  # class -> its group's first class (union-find, no ranks)

    def root(i: int) -> int:
        while group.setdefault(i, i) != i:
            i = group[i]
        return i

    order: list[int] = []
    for row in pairs.itertuples():
        a, b = index[row.true], index[row.predicted]
        order += [i for i in (a, b) if i not in order]
        group[root(b)] = root(a)
    firsts = list(dict.fromkeys(root(i) for i in order))
    return np.array([i for first in firsts for i in order if root(i) == first])


RECALL_BANDS = ((0.5, "#d62728", "below 50 %"), (0.8, "#ff7f0e", "50 to 80 %"),
                (np.inf, "#1f77b4", "80 % or more"))
"""Colours of :func:`plot_per_class_recall`: (upper bound, colour, legend text)."""


def plot_per_class_recall(report: ReportMetrics, *, worst: int | None = None,
                          ax: Axes | None = None) -> Axes:
    """Per-class recall as a sorted horizontal bar chart, worst class at the top.

    Each class is labelled with its number of images (``n=``), since a recall of 50 %
    on 2 images says less than on 200; bar colours mark recall below 50 %, 50 to 80 %
    and 80 % or more (the legend says so), and a dashed line the mean.

    Args:
        report: The report to draw.
        worst: Show only the ``worst`` classes with the lowest recall (default: all
            classes with images).
        ax: Axes to draw into; default: a new figure sized for the number of classes.

    Returns:
        The Axes drawn into.

    Example:
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 1], [0, 1, 0], class_names=["a", "b"])
        >>> ax = plot_per_class_recall(report)
        >>> ax.get_xlabel(), [label.get_text() for label in ax.get_yticklabels()]
        ('recall (per-class accuracy)', ['b (n=2)', 'a (n=1)'])
    """
    frame = report.worst_classes(report.num_classes)
    if worst is not None:
        frame = frame.head(check_int("worst", worst, minimum=1))
    k = len(frame)
    if ax is None:
        ax = Figure(figsize=(8.0, min(max(3.0, 0.2 * k + 1.6), 30.0)),
                    layout="constrained").subplots()
    colors = [next(color for bound, color, _ in RECALL_BANDS if r < bound)
              for r in frame["recall"]]
    ax.barh(np.arange(k), frame["recall"], color=colors)
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([f"{name} (n={count})" for name, count in frame["support"].items()],
                       fontsize=9.0 if k <= 40 else 7.0)
    ax.set_ylim(k - 0.5, -0.5)  # worst class at the top
    ax.set_xlim(0, 1)
    ax.axvline(report.balanced_accuracy, color="black", linestyle="--", linewidth=1)
    handles = [Patch(color=color, label=f"recall {text}") for _, color, text in RECALL_BANDS]
    handles.append(Line2D([], [], color="black", linestyle="--",
                          label=f"mean over classes {100 * report.balanced_accuracy:.1f} %"))
    # Below the axes: inside, it would cover the bars of the best classes.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.09 * 30 / max(k, 30)),
              ncol=2, fontsize=8, frameon=False)
    ax.set_xlabel("recall (per-class accuracy)")
    shown = f"the {k} worst of {int((report.per_class['support'] > 0).sum())} classes" \
        if worst is not None and k < (report.per_class["support"] > 0).sum() else "every class"
    ax.set_title(f"Per-class recall, {shown}")
    return ax


def plot_reliability(report: ReportMetrics, *, n_bins: int = 15,
                     ax: Axes | None = None) -> Axes:
    """A reliability diagram: accuracy against confidence per bin, and the ECE.

    Args:
        report: The report to draw (built from scores, not labels).
        n_bins: Equal-width confidence bins.
        ax: Axes to draw into; default: a new 5 x 5 inch figure.

    Returns:
        The Axes drawn into.

    Raises:
        ValueError: The report has no scores (it was built from predicted labels).

    Example:
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1], [[0.9, 0.1], [0.4, 0.6]], class_names=["a", "b"])
        >>> plot_reliability(report, n_bins=5).get_ylabel()
        'accuracy'
    """
    n_bins = check_int("n_bins", n_bins, minimum=1)
    table = report._reliability(n_bins)
    if table is None:
        raise ValueError("plot_reliability needs scores; this report was built from labels.")
    ax = ax if ax is not None else Figure(figsize=(5.5, 5.5), layout="constrained").subplots()
    width = 1.0 / n_bins
    ax.bar(table["low"], table["accuracy"], width=width, align="edge", alpha=0.8,
           edgecolor="black", label="accuracy of the bin's images")
    # The gap between each bar and its images' mean confidence: above the bar, the model
    # is over-confident there; below its top, under-confident.
    ax.bar(table["low"], table["confidence"] - table["accuracy"], bottom=table["accuracy"],
           width=width, align="edge", color="#d62728", alpha=0.35, hatch="//",
           edgecolor="#d62728", linewidth=0, label="gap to the mean confidence")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ece = report.expected_calibration_error(n_bins)
    title = f"Reliability: expected calibration error {100 * ece:.1f} %"
    if report.uncalibrated is not None:
        before = reliability_table(report.y_true, report.uncalibrated, n_bins)
        ax.plot(before["confidence"], before["accuracy"], "o-", color="#444444", markersize=4,
                linewidth=1.2, label="before calibration (accuracy at mean confidence)")
        before_ece = expected_calibration_error(report.y_true, report.uncalibrated, n_bins)
        title += f"\n(before calibration: {100 * before_ece:.1f} %)"
    for row in table.itertuples():  # how many images each bar stands for, at its foot
        ax.text(row.low + width / 2, 0.015, str(row.count), ha="center", va="bottom",
                fontsize=7, rotation=90 if n_bins > 10 else 0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("confidence (top-1 probability); numbers: images per bin")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    # Below the axes, where no bar can be.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, fontsize=8,
              frameon=False)
    return ax


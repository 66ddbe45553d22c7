"""The report's first screen: the answers a reader wants in 30 seconds, as figures and words.

How good (accuracy with its 95 % interval, beside validation when known), where it fails
(the worst classes as k of n, the most confused pairs), and whether its probabilities can
be taken at their word (calibration in words, and what a confidence threshold keeps).
One number format throughout: counts with thousands separators, rates in %.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from tlkit._checks import check_number

if TYPE_CHECKING:
    from tlkit.evaluation.metrics import ReportMetrics

__all__ = ["THRESHOLDS", "accuracy_interval", "confidence_words", "first_screen",
           "threshold_table"]

THRESHOLDS = (0.5, 0.8, 0.9, 0.95)
"""Confidence thresholds of the coverage table."""

# Below this gap between mean confidence and accuracy (and ECE) a model reads as calibrated.
_CALIBRATED_GAP = 0.02


def accuracy_interval(correct: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of ``correct`` out of ``total``.

    Wilson's interval, not the normal one: it stays inside [0, 1] and is honest near 100 %,
    where classifiers live.

    Args:
        correct: Right answers.
        total: Answers (``nan`` bounds when 0).
        level: Confidence level of the interval, strictly between 0 and 1.

    Example:
        >>> low, high = accuracy_interval(1652, 1736)
        >>> f"{low:.2%} to {high:.2%}"
        '94.05% to 96.07%'
        >>> [round(b, 3) for b in accuracy_interval(8, 10, level=0.8)]
        [0.602, 0.914]
    """
    level = check_number("level", level, low=0.0, high=1.0, low_inclusive=False,
                         high_inclusive=False)
    if total <= 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf((1 + level) / 2))
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def threshold_table(report: ReportMetrics, thresholds: tuple[float, ...] = THRESHOLDS,
                    ) -> pd.DataFrame:
    """What keeping only answers at or above a confidence keeps: share of images, accuracy.

    Args:
        report: The evaluation (its probabilities and labels).
        thresholds: Confidences of the top answer to keep from (each a row).

    Returns:
        One row per threshold: ``threshold``, ``images`` (kept), ``coverage`` (their
        share) and ``accuracy`` (of those kept; NaN when none is kept).

    Example:
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 1, 0], [[0.9, 0.1], [0.4, 0.6], [0.95, 0.05],
        ...                                         [0.7, 0.3]], class_names=["a", "b"])
        >>> threshold_table(report, (0.5, 0.9)).to_dict("records")
        [{'threshold': 0.5, 'images': 4, 'coverage': 1.0, 'accuracy': 0.75}, {'threshold': 0.9, 'images': 2, 'coverage': 0.5, 'accuracy': 0.5}]
    """
    if report.y_score is None:
        return pd.DataFrame(columns=["threshold", "images", "coverage", "accuracy"])
    confidence = report.y_score.max(axis=1)
    correct = report.y_true == report.y_pred
    rows = []
    for t in thresholds:
        kept = confidence >= t
        rows.append({"threshold": t, "images": int(kept.sum()),
                     "coverage": float(kept.mean()),
                     "accuracy": float(correct[kept].mean()) if kept.any() else float("nan")})
    return pd.DataFrame(rows)


def confidence_words(report: ReportMetrics) -> str:
    """Whether the probabilities can be taken at their word, by how much not, what to do.

    Example:
        >>> from tlkit import EvaluationReport
        >>> report = EvaluationReport([0, 1, 1, 0], [[0.6, 0.4], [0.4, 0.6], [0.6, 0.4],
        ...                                         [0.6, 0.4]], class_names=["a", "b"])
        >>> print(confidence_words(report))  # doctest: +ELLIPSIS
        Under-confident: the model gives its answers 60.0 % on average and is right 75.0 % ...
    """
    if report.y_score is None:
        return "No probabilities: this report was built from predicted labels."
    mean_confidence = float(report.y_score.max(axis=1).mean())
    gap = mean_confidence - report.accuracy
    ece = report.expected_calibration_error()
    said = (f"the model gives its answers {100 * mean_confidence:.1f} % on average and is "
            f"right {100 * report.accuracy:.1f} % of the time (expected calibration error "
            f"{100 * ece:.1f} %)")
    if abs(gap) < _CALIBRATED_GAP and ece < _CALIBRATED_GAP:
        return (f"Calibrated: {said}. A probability can be read as the chance the answer is "
                f"right, and a threshold keeps what it says (table).")
    fix = ("Calibrate on validation images (tlkit.train does it by default; "
           "tlkit.calibrate for a model of your own).")
    if abs(gap) < _CALIBRATED_GAP:  # right on average, wrong bin by bin
        return (f"Miscalibrated both ways: {said}; over-confident in some confidence bins, "
                f"under-confident in others (see the reliability figure). {fix}")
    if gap < 0:
        return (f"Under-confident: {said}, {100 * -gap:.1f} points more often than it "
                f"says. A threshold keeps fewer answers than it could. {fix}")
    return (f"Over-confident: {said}, {100 * gap:.1f} points less often than it says. "
            f"Do not read a probability as the chance of being right. {fix}")


def _pct(value: float) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{100 * value:.1f} %"


def first_screen(report: ReportMetrics) -> str:
    """The first screen of the report page (HTML): the answers, then the details below.

    The report's context may hold ``"validation accuracy"`` (words), shown beside.
    """
    e = html.escape
    n = int(report.y_true.size)
    right = int((report.y_true == report.y_pred).sum())
    low, high = accuracy_interval(right, n)
    beside = report.context.get("validation accuracy")
    lines = [f'<p class="big">Accuracy <b>{_pct(report.accuracy)}</b> '
             f'<span class="muted">({right:,} of {n:,} images; 95 % interval {_pct(low)} to '
             f'{_pct(high)})</span>'
             + "</p>" + (f"<p>Validation: {e(str(beside))}</p>" if beside else ""),
             f"<p>Mean per-class accuracy {_pct(report.balanced_accuracy)}"
             + (f" · top-5 accuracy {_pct(report.top5_accuracy)}"
                if report.top5_accuracy is not None else "") + "</p>"]
    worst = report.worst_classes(5)
    per_class = report.confusion_matrix()
    index = {name: i for i, name in enumerate(report.class_names)}
    items = [f"{e(name)} {int(per_class[index[name], index[name]]):,}/{int(row.support):,}"
             for name, row in zip(worst.index, worst.itertuples()) if row.recall < 1.0]
    if items:
        lines.append(f"<p><b>Worst classes</b> (right/images): {' · '.join(items)}</p>")
    pairs = report.most_confused(3)
    if len(pairs):
        lines.append("<p><b>Most confused</b>: " + " · ".join(
            f"{e(r.true)} → {e(r.predicted)} ({r.count:,} of {int(per_class[index[r.true]].sum()):,})"
            for r in pairs.itertuples()) + "</p>")
    if report.y_score is not None:
        table = threshold_table(report)
        rows = "".join(f'<tr><td class="num">{r.threshold:.2f}</td>'
                       f'<td class="num">{r.images:,} ({_pct(r.coverage)})</td>'
                       f'<td class="num">{_pct(r.accuracy)}</td></tr>'
                       for r in table.itertuples())
        lines += [f"<p>{e(confidence_words(report))}</p>",
                  '<table class="thresholds"><thead><tr><th class="num">keep answers with '
                  'probability ≥</th><th class="num">images kept</th><th class="num">accuracy '
                  f"of those</th></tr></thead><tbody>{rows}</tbody></table>"]
    return '<section class="first">' + "".join(lines) + "</section>"


def summary_figures(report: ReportMetrics) -> dict[str, Any]:
    """The first screen's figures as JSON data (kept in ``report.json``)."""
    right = int((report.y_true == report.y_pred).sum())
    low, high = accuracy_interval(right, int(report.y_true.size))
    return {"accuracy_interval_95": [round(low, 6), round(high, 6)],
            # NaN (no image kept) is not JSON: None instead.
            "thresholds": [{k: (None if isinstance(v, float) and np.isnan(v) else v)
                            for k, v in row.items()}
                           for row in threshold_table(report).round(6).to_dict("records")]}

"""Evaluation: the report, its plots, rendering and files, and training curves.

Modules, one job each: :mod:`~tlkit.evaluation.report` (:class:`EvaluationReport`
and its metrics), :mod:`~tlkit.evaluation.plots`, :mod:`~tlkit.evaluation.gallery`
(pictures of the mistakes), :mod:`~tlkit.evaluation.render` (text, Markdown),
:mod:`~tlkit.evaluation.page` (the HTML page), :mod:`~tlkit.evaluation.saving` and
:mod:`~tlkit.evaluation.history` (:func:`plot_history`).
"""

from tlkit.evaluation.gallery import plot_mistakes
from tlkit.evaluation.history import plot_history
from tlkit.evaluation.plots import plot_confusion_matrix, plot_per_class_recall, plot_reliability
from tlkit.evaluation.report import EvaluationReport
from tlkit.evaluation.saving import save_report

__all__ = [
    "EvaluationReport",
    "plot_confusion_matrix",
    "plot_history",
    "plot_mistakes",
    "plot_per_class_recall",
    "plot_reliability",
    "save_report",
]

"""The metrics half of an evaluation report: checked labels and scores, and every figure of them.

:class:`ReportMetrics` knows nothing about plots, text or files; those modules read it,
and :class:`tlkit.EvaluationReport` (in :mod:`~tlkit.evaluation.report`) puts them
together. So imports flow one way: metrics <- plots, render, saving <- report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from tlkit._checks import check_choice, check_int, check_names
from tlkit.calibration import expected_calibration_error, reliability_table
from tlkit.evaluation._inputs import validated, validated_context, validated_paths

if TYPE_CHECKING:  # the subclass every user meets; at run time ``cls`` builds it
    from tlkit.evaluation.report import EvaluationReport

__all__ = ["ReportMetrics"]



class ReportMetrics:
    """Labels, predictions and scores of a classifier on a labelled set, and their metrics.

    The base of :class:`tlkit.EvaluationReport`, which adds plots, text and files; see
    there for the arguments. Metrics follow scikit-learn: classes absent from the
    predictions get precision 0, not a crash; macro averages run over the classes present
    in the labels or the predictions.
    """

    def __init__(self, y_true: Any, y_score: Any, *, class_names: Sequence[str],
                 paths: Sequence[str | os.PathLike[str]] | None = None,
                 context: Mapping[str, Any] | None = None, uncalibrated: Any = None) -> None:
        names = check_names("class_names", class_names, minimum=2)
        self.y_true, self.y_pred, self.y_score = validated(y_true, y_score, len(names))
        self.uncalibrated = None
        if uncalibrated is not None:  # the same images before calibration (temperature 1)
            before = validated(self.y_true, uncalibrated, len(names))[2]
            if before is None or self.y_score is None:
                raise ValueError("uncalibrated must be class probabilities (n, k), and y_score "
                                 "too: it is the same images' scores before calibration.")
            self.uncalibrated = before
        self.class_names = names
        self.paths = None if paths is None else validated_paths(paths, self.y_true.size)
        self.context = validated_context(context)

    # Construction -------------------------------------------------------------------------
    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any,
        *,
        class_names: Sequence[str],
        paths: Sequence[str | os.PathLike[str]] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> EvaluationReport:
        """Build a report from true labels and scores or predicted labels (the constructor).

        Args:
            y_true: True class indices ``(n,)`` or one-hot rows ``(n, k)``.
            y_score: Class probabilities or logits ``(n, k)``, or predicted class
                indices ``(n,)``.
            class_names: One name per class (``k`` names).
            paths: The image file of each row, when known: the saved report then
                shows the misclassified images.
            context: What was evaluated, shown at the top of the saved report
                (e.g. ``{"model": "mobilenet_v2, 224 x 224", "data": "test split"}``).

        Returns:
            The report.

        Example:
            >>> from tlkit import EvaluationReport
            >>> EvaluationReport.from_predictions([0, 1, 1], [0, 1, 0],
            ...                                   class_names=["a", "b"]).accuracy
            0.6666666666666666
        """
        return cls(y_true, y_score, class_names=class_names, paths=paths, context=context)

    # Metrics -----------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def accuracy(self) -> float:
        """Fraction of correct predictions."""
        return float(np.mean(self.y_true == self.y_pred))

    @property
    def balanced_accuracy(self) -> float:
        """Mean per-class accuracy (recall), over the classes present in ``y_true``."""
        counts = self.confusion_matrix()
        support = counts.sum(axis=1)
        present = support > 0
        return float(np.mean(np.diag(counts)[present] / support[present]))

    def top_k_accuracy(self, k: int = 5) -> float | None:
        """Fraction of samples whose true class is among the ``k`` highest scores.

        Returns ``None`` when the report has no scores (built from predicted labels).

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.top_k_accuracy(1), report.top_k_accuracy(2)
            (0.75, 1.0)
        """
        if self.y_score is None:
            return None
        k = min(int(k), self.num_classes)
        top = np.argsort(-self.y_score, axis=1, kind="stable")[:, :k]
        return float(np.mean(np.any(top == self.y_true[:, None], axis=1)))

    @property
    def top5_accuracy(self) -> float | None:
        """Top-5 accuracy, or ``None`` without scores."""
        return self.top_k_accuracy(5)

    def _averages(self, average: str) -> tuple[float, float, float]:
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            self.y_true, self.y_pred, average=average, zero_division=0
        )
        return float(precision), float(recall), float(f1)

    @property
    def macro(self) -> dict[str, float]:
        """Macro-averaged precision, recall and F1."""
        return dict(zip(("precision", "recall", "f1"), self._averages("macro")))

    @property
    def weighted(self) -> dict[str, float]:
        """Support-weighted precision, recall and F1."""
        return dict(zip(("precision", "recall", "f1"), self._averages("weighted")))

    @property
    def per_class(self) -> pd.DataFrame:
        """Per-class precision, recall, F1 and support, indexed by class name.

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.per_class.loc["bee"].to_dict()
            {'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'support': 2.0}
        """
        labels = np.arange(self.num_classes)
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            self.y_true, self.y_pred, labels=labels, zero_division=0
        )
        frame = pd.DataFrame(
            {"precision": precision, "recall": recall, "f1": f1, "support": support},
            index=pd.Index(self.class_names, name="class"),
        )
        frame["support"] = frame["support"].astype(int)
        return frame

    def confusion_matrix(self, normalize: str | None = None) -> np.ndarray:
        """The ``k x k`` confusion matrix, rows true classes, columns predictions.

        Args:
            normalize: ``None`` for counts, ``"true"`` to divide each row by its
                class's support (rows of absent classes stay 0).

        Raises:
            ValueError: ``normalize`` is neither ``None`` nor ``"true"``.

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.confusion_matrix()[1].tolist(), report.confusion_matrix("true")[1].tolist()
            ([1, 1, 0], [0.5, 0.5, 0.0])
        """
        check_choice("normalize", normalize, (None, "true"))
        counts = skm.confusion_matrix(self.y_true, self.y_pred, labels=np.arange(self.num_classes))
        if normalize is None:
            return counts
        support = counts.sum(axis=1, keepdims=True)
        return np.divide(counts, support, out=np.zeros(counts.shape, dtype=float),
                         where=support > 0)

    def most_confused(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` most frequent (true, predicted) mistakes.

        Returns:
            A DataFrame with columns ``true``, ``predicted``, ``count`` and
            ``fraction_of_true`` (count over the true class's support).

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.most_confused(1).to_dict("records")
            [{'true': 'bee', 'predicted': 'ant', 'count': 1, 'fraction_of_true': 0.5}]
        """
        counts = self.confusion_matrix()
        np.fill_diagonal(counts, 0)
        rows, cols = np.nonzero(counts)
        order = np.lexsort((cols, rows, -counts[rows, cols]))[: max(int(n), 0)]
        support = self.confusion_matrix().sum(axis=1)
        return pd.DataFrame(
            {
                "true": [self.class_names[r] for r in rows[order]],
                "predicted": [self.class_names[c] for c in cols[order]],
                "count": counts[rows[order], cols[order]].astype(int),
                "fraction_of_true": counts[rows[order], cols[order]] / support[rows[order]],
            }
        )

    def worst_classes(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` classes with the lowest recall (ties: the larger class first).

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.worst_classes(1).index.tolist()
            ['bee']
        """
        frame = self.per_class[self.per_class["support"] > 0]
        return frame.sort_values(["recall", "support"], ascending=[True, False]).head(n)

    @property
    def predictions(self) -> pd.DataFrame:
        """One row per image: ``path`` (when known), ``true``, ``predicted``, ``correct``
        and, with scores, ``confidence`` (the predicted class's probability),
        ``true_probability`` and ``loss`` (its cross-entropy, ``-log p(true)``)."""
        frame = pd.DataFrame(index=pd.RangeIndex(self.y_true.size, name="image"))
        if self.paths is not None:
            frame["path"] = self.paths
        frame["true"] = [self.class_names[i] for i in self.y_true]
        frame["predicted"] = [self.class_names[i] for i in self.y_pred]
        frame["correct"] = self.y_true == self.y_pred
        if self.y_score is not None:
            rows = np.arange(self.y_true.size)
            frame["confidence"] = self.y_score[rows, self.y_pred]
            frame["true_probability"] = self.y_score[rows, self.y_true]
            # Clipped so a probability of exactly 0 gives a large, finite loss.
            frame["loss"] = -np.log(np.clip(frame["true_probability"], 1e-12, 1.0))
        return frame

    def mistakes(self, n: int | None = None) -> pd.DataFrame:
        """The misclassified images, most confident mistakes first (fastai's "top losses").

        Args:
            n: Keep the first ``n`` (default: all).

        Returns:
            The rows of :attr:`predictions` that are wrong, by ``confidence``
            descending (in image order when the report has no scores).

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1], [[0.9, 0.1], [0.8, 0.2], [0.4, 0.6]],
            ...                           class_names=["cat", "dog"])
            >>> report.mistakes()[["true", "predicted", "confidence"]].to_dict("records")
            [{'true': 'dog', 'predicted': 'cat', 'confidence': 0.8}]
        """
        frame = self.predictions
        wrong = frame[~frame["correct"]]
        if "confidence" in wrong:
            wrong = wrong.sort_values("confidence", ascending=False, kind="stable")
        return wrong if n is None else wrong.head(check_int("n", n, minimum=0))

    def expected_calibration_error(self, n_bins: int = 15) -> float | None:
        """Expected calibration error of the top-1 confidence (``None`` without scores).

        The predictions are binned by confidence into ``n_bins`` equal-width bins;
        ECE is the support-weighted mean gap between accuracy and confidence.

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> round(report.expected_calibration_error(n_bins=2), 4)
            0.3
        """
        if self.y_score is None:
            return None
        return expected_calibration_error(self.y_true, self.y_score, n_bins)

    def _reliability(self, n_bins: int) -> pd.DataFrame | None:
        if self.y_score is None:
            return None
        return reliability_table(self.y_true, self.y_score, n_bins)

    # Output ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The headline figures as a flat dict.

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> summary = report.summary()
            >>> summary["accuracy"], summary["balanced_accuracy"], summary["samples"]
            (0.75, 0.8333333333333334, 4)
        """
        return {
            "samples": int(self.y_true.size),
            "classes": self.num_classes,
            "accuracy": self.accuracy,
            "top5_accuracy": self.top5_accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "macro_precision": self.macro["precision"],
            "macro_recall": self.macro["recall"],
            "macro_f1": self.macro["f1"],
            "weighted_precision": self.weighted["precision"],
            "weighted_recall": self.weighted["recall"],
            "weighted_f1": self.weighted["f1"],
            "expected_calibration_error": self.expected_calibration_error(),
            "expected_calibration_error_uncalibrated": None if self.uncalibrated is None
            else expected_calibration_error(self.y_true, self.uncalibrated),
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as JSON-serializable data.

        Example:
            >>> import json
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport.from_predictions([0, 1], [0, 0], class_names=["a", "b"])
            >>> sorted(json.loads(json.dumps(report.to_dict())))
            ['class_names', 'confusion_matrix', 'context', 'first_screen', 'most_confused', 'per_class', 'summary']
        """
        from tlkit.evaluation.first_screen import summary_figures  # it reads a report

        per_class = self.per_class.reset_index()
        return {
            "summary": self.summary(),
            "first_screen": summary_figures(self),
            "class_names": list(self.class_names),
            "per_class": json.loads(per_class.to_json(orient="records")),
            "confusion_matrix": self.confusion_matrix().tolist(),
            "most_confused": json.loads(self.most_confused(20).to_json(orient="records")),
            "context": self.context,
        }

    def classification_report(self) -> str:
        """scikit-learn's text classification report with the class names.

        Example:
            >>> from tlkit import EvaluationReport
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> print(report.classification_report().splitlines()[0].split())
            ['precision', 'recall', 'f1-score', 'support']
        """
        return skm.classification_report(
            self.y_true, self.y_pred, labels=np.arange(self.num_classes),
            target_names=self.class_names, zero_division=0, digits=3,
        )

    def __repr__(self) -> str:
        return (f"EvaluationReport(samples={self.y_true.size}, classes={self.num_classes}, "
                f"accuracy={self.accuracy:.4f})")

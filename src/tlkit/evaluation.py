"""Evaluation of a classifier: metrics, confusion matrix, per-class report, plots, one saved page."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from sklearn import metrics as skm

from tlkit._batches import predict_with_labels

__all__ = ["EvaluationReport", "plot_history"]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _as_labels(argument: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] > 1:
        array = array.argmax(axis=1)
    elif array.ndim == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{argument} must be 1-D labels (or one-hot rows), got shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(np.isfinite(array)) or not np.all(
            array == np.round(array)
        ):
            raise TypeError(f"{argument} must hold integer class indices, got dtype {array.dtype}.")
    return array.astype(np.int64)


def _check_names(class_names: Any) -> list[str]:
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence | np.ndarray):
        raise TypeError(
            f"class_names must be a sequence of names, got {type(class_names).__name__}."
        )
    names = [str(name) for name in class_names]
    if len(names) < 2:
        raise ValueError(f"class_names must name at least 2 classes, got {len(names)}.")
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"class_names must be unique; duplicated: {duplicated[:10]}.")
    return names


class EvaluationReport:
    """Everything about a classifier's predictions on a labelled set.

    Build it with :meth:`from_predictions` (labels and scores you already have) or
    :meth:`from_model` (predicts a dataset with a progress bar). Metrics follow
    scikit-learn: classes absent from the predictions get precision 0, not a crash;
    macro averages run over the classes present in the labels or the predictions.

    Args:
        y_true: True class indices, shape ``(n,)``.
        y_pred: Predicted class indices, shape ``(n,)``.
        class_names: One name per class.
        y_score: Class probabilities ``(n, k)``, or ``None`` when only labels were given.

    Attributes:
        y_true: True class indices.
        y_pred: Predicted class indices.
        y_score: Class probabilities, or ``None``.
        class_names: Class names.

    Example:
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]],
        ...     class_names=["cat", "dog", "owl"])
        >>> report.accuracy, report.balanced_accuracy
        (0.75, 0.8333333333333334)
        >>> report.most_confused(1).to_dict("records")
        [{'true': 'owl', 'predicted': 'cat', 'count': 1, 'fraction_of_true': 0.5}]
    """

    def __init__(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        class_names: Sequence[str],
        y_score: np.ndarray | None = None,
    ) -> None:
        self.y_true = np.asarray(y_true, dtype=np.int64)
        self.y_pred = np.asarray(y_pred, dtype=np.int64)
        self.class_names = list(class_names)
        self.y_score = None if y_score is None else np.asarray(y_score, dtype=np.float64)

    # Construction -------------------------------------------------------------------------
    @classmethod
    def from_predictions(
        cls,
        y_true: Any,
        y_score: Any,
        *,
        class_names: Sequence[str],
    ) -> EvaluationReport:
        """Build a report from true labels and scores or predicted labels.

        Args:
            y_true: True class indices ``(n,)`` or one-hot rows ``(n, k)``.
            y_score: Class probabilities or logits ``(n, k)`` (logits are recognised
                because rows do not sum to 1 or leave ``[0, 1]``, and get a softmax),
                or predicted class indices ``(n,)``.
            class_names: One name per class (``k`` names).

        Returns:
            The report.

        Raises:
            ValueError: Empty input, different lengths, ``class_names`` of the wrong
                length, labels out of range, or NaN/infinite scores.
            TypeError: Labels that are not integers.

        Example:
            >>> EvaluationReport.from_predictions([0, 1, 1], [0, 1, 0],
            ...                                   class_names=["a", "b"]).accuracy
            0.6666666666666666
        """
        names = _check_names(class_names)
        k = len(names)
        true = _as_labels("y_true", y_true)
        score = np.asarray(y_score)
        if true.size == 0 or score.size == 0:
            raise ValueError("y_true and y_score are empty: there is nothing to evaluate.")
        if score.shape[0] != true.shape[0]:
            raise ValueError(
                f"y_true and y_score have different lengths: {true.shape[0]} and {score.shape[0]}."
            )
        probabilities = None
        if score.ndim == 2:
            if score.shape[1] != k:
                raise ValueError(
                    f"y_score has {score.shape[1]} columns but class_names has {k} names; they "
                    f"must match."
                )
            if not np.issubdtype(score.dtype, np.number):
                raise TypeError(f"y_score must be numeric, got dtype {score.dtype}.")
            score = score.astype(np.float64)
            if not np.all(np.isfinite(score)):
                bad = int(np.argwhere(~np.isfinite(score))[0][0])
                raise ValueError(
                    f"y_score has NaN or infinite values (first in row {bad}); check the model's "
                    f"outputs."
                )
            is_probability = (
                score.min() >= 0.0 and score.max() <= 1.0
                and np.allclose(score.sum(axis=1), 1.0, atol=1e-3)
            )
            probabilities = score if is_probability else _softmax(score)
            pred = probabilities.argmax(axis=1)
        elif score.ndim == 1:
            if np.issubdtype(score.dtype, np.floating) and not np.all(np.isfinite(score)):
                raise ValueError("y_score (predicted labels) has NaN or infinite values.")
            pred = _as_labels("y_score", score)
        else:
            raise ValueError(
                f"y_score must be scores (n, k) or predicted labels (n,), got shape {score.shape}."
            )
        for argument, labels in (("y_true", true), ("y_score", pred)):
            out = (labels < 0) | (labels >= k)
            if out.any():
                raise ValueError(
                    f"{argument} has labels outside [0, {k - 1}] (class_names has {k} names): "
                    f"{sorted(set(labels[out].tolist()))[:10]}."
                )
        return cls(true, pred, names, probabilities)

    @classmethod
    def from_model(
        cls,
        model: Any,
        dataset: Any,
        *,
        class_names: Sequence[str],
        flip_tta: bool = False,
        verbose: int = 1,
    ) -> EvaluationReport:
        """Predict ``dataset`` with ``model`` (with a progress bar) and build the report.

        The dataset is read once, batch by batch, so predictions and labels stay
        aligned even when it shuffles.

        Args:
            model: A Keras model returning class probabilities or logits.
            dataset: A ``tf.data.Dataset`` (or any iterable) of batches ``(x, y)`` or
                ``(x, y, sample_weight)``.
            class_names: One name per class.
            flip_tta: Test-time augmentation: average the model's probabilities for
                each image and its horizontal mirror (twice the prediction time).
            verbose: Show a progress bar.

        Returns:
            The report.

        Raises:
            ValueError: The dataset yields no batches, or the checks of
                :meth:`from_predictions` fail.

        Example:
            >>> import keras, numpy as np, tensorflow as tf
            >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Softmax()])
            >>> data = tf.data.Dataset.from_tensor_slices(
            ...     (np.array([[2.0, 0.0], [0.0, 3.0]], "float32"), [0, 1])).batch(2)
            >>> EvaluationReport.from_model(model, data, class_names=["a", "b"], verbose=0).accuracy
            1.0
        """
        scores, labels = predict_with_labels(model, dataset, argument="dataset", verbose=verbose,
                                             flip=flip_tta)
        return cls.from_predictions(labels, scores, class_names=class_names)

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
        """Per-class precision, recall, F1 and support, indexed by class name."""
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
        """
        if normalize not in (None, "true"):
            raise ValueError(f"normalize must be None or 'true', got {normalize!r}.")
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
        """The ``n`` classes with the lowest recall (ties: the larger class first)."""
        frame = self.per_class[self.per_class["support"] > 0]
        return frame.sort_values(["recall", "support"], ascending=[True, False]).head(n)

    def expected_calibration_error(self, n_bins: int = 15) -> float | None:
        """Expected calibration error of the top-1 confidence (``None`` without scores).

        The predictions are binned by confidence into ``n_bins`` equal-width bins;
        ECE is the support-weighted mean gap between accuracy and confidence.
        """
        table = self._reliability(n_bins)
        if table is None:
            return None
        return float(np.sum(table["count"] * np.abs(table["accuracy"] - table["confidence"]))
                     / len(self.y_true))

    def _reliability(self, n_bins: int) -> pd.DataFrame | None:
        if self.y_score is None:
            return None
        confidence = self.y_score.max(axis=1)
        correct = self.y_pred == self.y_true
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
        rows = []
        for b in range(n_bins):
            mask = index == b
            if mask.any():
                rows.append({"low": edges[b], "high": edges[b + 1], "count": int(mask.sum()),
                             "accuracy": float(correct[mask].mean()),
                             "confidence": float(confidence[mask].mean())})
        return pd.DataFrame(rows)

    # Output ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The headline figures as a flat dict."""
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
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as JSON-serializable data.

        Example:
            >>> import json
            >>> report = EvaluationReport.from_predictions([0, 1], [0, 0], class_names=["a", "b"])
            >>> sorted(json.loads(json.dumps(report.to_dict())))[:3]
            ['class_names', 'confusion_matrix', 'most_confused']
        """
        per_class = self.per_class.reset_index()
        return {
            "summary": self.summary(),
            "class_names": list(self.class_names),
            "per_class": json.loads(per_class.to_json(orient="records")),
            "confusion_matrix": self.confusion_matrix().tolist(),
            "most_confused": json.loads(self.most_confused(20).to_json(orient="records")),
        }

    def classification_report(self) -> str:
        """scikit-learn's text classification report with the class names."""
        return skm.classification_report(
            self.y_true, self.y_pred, labels=np.arange(self.num_classes),
            target_names=self.class_names, zero_division=0, digits=3,
        )

    def _headline(self) -> list[tuple[str, str]]:
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.2f} %"

        ece = self.expected_calibration_error()
        return [
            ("samples", str(self.y_true.size)),
            ("classes", str(self.num_classes)),
            ("accuracy", pct(self.accuracy)),
            ("top-5 accuracy", pct(self.top5_accuracy)),
            ("mean per-class accuracy", pct(self.balanced_accuracy)),
            ("macro F1", f"{self.macro['f1']:.4f}"),
            ("weighted F1", f"{self.weighted['f1']:.4f}"),
            ("expected calibration error", "n/a" if ece is None else f"{ece:.4f}"),
        ]

    def __str__(self) -> str:
        width = max(len(name) for name, _ in self._headline())
        lines = ["EvaluationReport"] + [f"  {n:<{width}}  {v}" for n, v in self._headline()]
        confused = self.most_confused(5)
        if len(confused):
            lines.append("  most confused (true -> predicted: count):")
            lines += [f"    {r.true} -> {r.predicted}: {r.count}" for r in confused.itertuples()]
        lines += ["", self.classification_report()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"EvaluationReport(samples={self.y_true.size}, classes={self.num_classes}, "
                f"accuracy={self.accuracy:.4f})")

    def to_markdown(self) -> str:
        """A Markdown summary: headline figures, most confused pairs, per-class table.

        Example:
            >>> report = EvaluationReport.from_predictions([0, 1], [0, 1], class_names=["a", "b"])
            >>> print(report.to_markdown().splitlines()[0])
            # Evaluation report
        """
        def table(frame: pd.DataFrame) -> list[str]:
            header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
            rule = "|" + "|".join("---" for _ in frame.columns) + "|"
            rows = []
            for values in frame.itertuples(index=False):
                cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in values]
                rows.append("| " + " | ".join(cells) + " |")
            return [header, rule, *rows]

        lines = ["# Evaluation report", "", "| metric | value |", "|---|---|"]
        lines += [f"| {n} | {v} |" for n, v in self._headline()]
        confused = self.most_confused(10)
        if len(confused):
            lines += ["", "## Most confused pairs", "", *table(confused)]
        lines += ["", "## Per class", "", *table(self.per_class.reset_index())]
        return "\n".join(lines) + "\n"

    # Plots -------------------------------------------------------------------------------
    def plot_confusion_matrix(
        self,
        *,
        normalize: str | None = "true",
        only_confused: int | None = None,
        annotate: bool | None = None,
    ) -> Figure:
        """The confusion matrix as a seaborn heatmap, readable up to 101+ classes.

        Args:
            normalize: ``"true"`` (row fractions, the default) or ``None`` (counts).
            only_confused: Show only the classes involved in the ``only_confused``
                most frequent confusions.
            annotate: Write the values in the cells (default: when 30 classes or fewer
                are shown).

        Returns:
            A matplotlib Figure, one labelled row and column per class shown.
        """
        import seaborn as sns

        matrix = self.confusion_matrix(normalize)
        indices = np.arange(self.num_classes)
        if only_confused is not None:
            pairs = self.most_confused(only_confused)
            involved = set(pairs["true"]) | set(pairs["predicted"])
            indices = np.array([i for i, name in enumerate(self.class_names) if name in involved])
            if indices.size == 0:
                indices = np.arange(min(self.num_classes, 10))
        sub = matrix[np.ix_(indices, indices)]
        names = [self.class_names[i] for i in indices]
        k = len(names)
        annotate = k <= 30 if annotate is None else annotate
        # About 0.17 inch per class keeps 7-pt labels legible at 101 classes.
        side = min(max(5.0, 0.17 * k + 3.0), 30.0)
        font = 9.0 if k <= 40 else 7.0
        figure = Figure(figsize=(side + 1.5, side))
        ax = figure.subplots()
        vmax = 1.0 if normalize else max(float(sub.max()), 1.0)
        # Square-root colour scale and blank zero cells, so rare confusions stay visible.
        sns.heatmap(
            sub, ax=ax, cmap="Blues", square=True, mask=sub == 0,
            norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=vmax),
            annot=annotate, fmt=".2f" if normalize else "d", linewidths=0.0,
            annot_kws={"fontsize": font - 1},
            cbar_kws={"shrink": 0.5, "label": "fraction of true class" if normalize else "count"},
        )
        ax.set_facecolor("white")
        ax.set_xticks(np.arange(k) + 0.5)
        ax.set_yticks(np.arange(k) + 0.5)
        ax.set_xticklabels(names, rotation=90, fontsize=font)
        ax.set_yticklabels(names, rotation=0, fontsize=font)
        ax.set_xlim(0, k)
        ax.set_ylim(k, 0)
        ax.grid(False)
        for edge in range(0, k + 1, 10 if k > 40 else k):
            ax.axhline(edge, color="#eeeeee", linewidth=0.5)
            ax.axvline(edge, color="#eeeeee", linewidth=0.5)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        title = "Confusion matrix" + (" (fraction of true class)" if normalize else " (counts)")
        if only_confused is not None:
            title += f"\nclasses in the top {only_confused} confusions"
        ax.set_title(title)
        figure.tight_layout()
        return figure

    def plot_per_class_recall(self) -> Figure:
        """Per-class recall as a sorted horizontal bar chart (worst at the top)."""
        frame = self.per_class[self.per_class["support"] > 0].sort_values("recall")
        k = len(frame)
        figure = Figure(figsize=(8.0, min(max(3.0, 0.17 * k + 1.5), 30.0)))
        ax = figure.subplots()
        colors = ["#d62728" if r < 0.5 else "#ff7f0e" if r < 0.8 else "#1f77b4"
                  for r in frame["recall"]]
        ax.barh(np.arange(k), frame["recall"], color=colors)
        ax.set_yticks(np.arange(k))
        ax.set_yticklabels(frame.index, fontsize=9.0 if k <= 40 else 7.0)
        ax.set_ylim(k - 0.5, -0.5)  # worst class at the top
        ax.set_xlim(0, 1)
        ax.axvline(self.balanced_accuracy, color="black", linestyle="--", linewidth=1,
                   label=f"mean {self.balanced_accuracy:.3f}")
        ax.set_xlabel("recall (per-class accuracy)")
        ax.set_title("Per-class recall")
        ax.legend(loc="upper right")
        figure.tight_layout()
        return figure

    def plot_reliability(self, n_bins: int = 15) -> Figure:
        """A reliability diagram: accuracy against confidence per bin, and the ECE.

        Raises:
            ValueError: The report has no scores (it was built from predicted labels).
        """
        table = self._reliability(n_bins)
        if table is None:
            raise ValueError("plot_reliability needs scores; this report was built from labels.")
        figure = Figure(figsize=(5.0, 5.0))
        ax = figure.subplots()
        width = 1.0 / n_bins
        ax.bar(table["low"], table["accuracy"], width=width, align="edge", alpha=0.8,
               edgecolor="black", label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        ax.plot(table["confidence"], table["accuracy"], "o", color="#d62728", markersize=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-1 probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Reliability (ECE {self.expected_calibration_error(n_bins):.4f})")
        ax.legend(loc="upper left")
        figure.tight_layout()
        return figure

    # Saving ------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> dict[str, Path]:
        """Write the report: JSON, CSV tables, PNG plots and one self-contained HTML page.

        Files: ``report.json``, ``per_class.csv``, ``confusion_matrix.csv`` (counts,
        with class names), ``most_confused.csv``, ``confusion_matrix.png``,
        ``per_class_recall.png``, ``reliability.png`` (when there are scores),
        ``report.md`` and ``index.html`` (opens without a server).

        Args:
            directory: Created if needed.
            overwrite: Replace files of an earlier report; otherwise existing files are
                an error and nothing is written.

        Returns:
            ``{file_name: path}`` of every file written.

        Raises:
            FileExistsError: A report file exists and ``overwrite`` is false.
        """
        folder = Path(directory)
        names = ["report.json", "per_class.csv", "confusion_matrix.csv", "most_confused.csv",
                 "confusion_matrix.png", "per_class_recall.png", "report.md", "index.html"]
        if self.y_score is not None:
            names.append("reliability.png")
        existing = [n for n in names if (folder / n).exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"{str(folder)!r} already holds a report ({', '.join(existing)}); pass "
                f"overwrite=True to replace it or choose another directory."
            )
        folder.mkdir(parents=True, exist_ok=True)
        paths = {n: folder / n for n in names}
        paths["report.json"].write_text(json.dumps(self.to_dict(), indent=2))
        self.per_class.to_csv(paths["per_class.csv"])
        pd.DataFrame(self.confusion_matrix(), index=pd.Index(self.class_names, name="true"),
                     columns=self.class_names).to_csv(paths["confusion_matrix.csv"])
        self.most_confused(50).to_csv(paths["most_confused.csv"], index=False)
        paths["report.md"].write_text(self.to_markdown())
        figures = {
            "confusion_matrix.png": self.plot_confusion_matrix(),
            "per_class_recall.png": self.plot_per_class_recall(),
        }
        if self.y_score is not None:
            figures["reliability.png"] = self.plot_reliability()
        for name, figure in figures.items():
            figure.savefig(paths[name], dpi=110)
        paths["index.html"].write_text(self._html(list(figures)))
        return paths

    def _html(self, images: list[str]) -> str:
        headline = "".join(
            f"<tr><th>{html.escape(n)}</th><td>{html.escape(v)}</td></tr>" for n, v in self._headline()
        )
        confused = self.most_confused(20).to_html(index=False, float_format=lambda v: f"{v:.3f}",
                                                  classes="table", border=0)
        per_class = self.per_class.to_html(float_format=lambda v: f"{v:.3f}", classes="table",
                                           border=0)
        figures = "".join(
            f'<figure><img src="{html.escape(n)}" alt="{html.escape(n[:-4].replace("_", " "))}">'
            f"<figcaption>{html.escape(n[:-4].replace('_', ' '))}</figcaption></figure>"
            for n in images
        )
        style = (
            "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}th,td{padding:.25em .7em;text-align:left;"
            "border-bottom:1px solid #ddd}img{max-width:100%}figure{margin:1.5em 0}"
        )
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Evaluation report</title><style>{style}</style></head><body>"
            "<h1>Evaluation report</h1>"
            f"<table>{headline}</table>"
            f"<h2>Figures</h2>{figures}"
            f"<h2>Most confused pairs</h2>{confused}"
            f"<h2>Per class</h2>{per_class}"
            "</body></html>\n"
        )


def plot_history(
    history: Any,
    *,
    fine_tune_epoch: int | None = None,
    metrics: Sequence[str] = ("loss", "accuracy"),
) -> Figure:
    """Plot Keras training curves: one panel per metric, training and validation.

    Args:
        history: A ``keras.callbacks.History`` (what ``fit()`` returns), its
            ``.history`` dict, or a pandas DataFrame with one column per metric.
        fine_tune_epoch: 0-based epoch where fine-tuning started; a vertical line
            marks it.
        metrics: Metrics to plot (those missing from ``history`` are skipped).

    Returns:
        A matplotlib Figure.

    Raises:
        TypeError: ``history`` is none of the accepted types.
        ValueError: None of ``metrics`` is in ``history``.

    Example:
        >>> figure = plot_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
        ...                        "accuracy": [0.5, 0.7, 0.8]}, fine_tune_epoch=2)
        >>> [ax.get_title() for ax in figure.axes]
        ['loss', 'accuracy']
    """
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        data = dict(history.history)
    elif isinstance(history, pd.DataFrame):
        data = {c: history[c].tolist() for c in history.columns}
    elif isinstance(history, Mapping):
        data = dict(history)
    else:
        raise TypeError(
            f"history must be a keras History, a dict or a DataFrame, got {type(history).__name__}."
        )
    shown = [m for m in metrics if m in data]
    if not shown:
        raise ValueError(f"history has none of the metrics {list(metrics)}; it has {sorted(data)}.")
    figure = Figure(figsize=(5.0 * len(shown), 3.8))
    axes = figure.subplots(1, len(shown), squeeze=False)[0]
    for ax, metric in zip(axes, shown):
        train = np.asarray(data[metric], dtype=float)
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, "o-", markersize=3, label="train")
        if f"val_{metric}" in data:
            val = np.asarray(data[f"val_{metric}"], dtype=float)
            ax.plot(np.arange(1, len(val) + 1), val, "s-", markersize=3, label="validation")
        if fine_tune_epoch is not None:
            ax.axvline(fine_tune_epoch + 0.5, color="gray", linestyle="--", linewidth=1,
                       label="fine-tuning starts")
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    return figure

"""EvaluationReport: a classifier's predictions on a labelled set, with every metric, plot,
text and file of them.

The metrics live in :mod:`~tlkit.evaluation.metrics`; plots, rendering and saving in their
own modules, which this one puts together (imports flow one way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes

from tlkit._predict import predict_with_labels
from tlkit.evaluation.gallery import plot_mistakes
from tlkit.evaluation.metrics import ReportMetrics
from tlkit.evaluation.plots import plot_confusion_matrix, plot_per_class_recall, plot_reliability
from tlkit.evaluation.render import to_markdown, to_text
from tlkit.evaluation.saving import save_report

__all__ = ["EvaluationReport"]


class EvaluationReport(ReportMetrics):
    """Everything about a classifier's predictions on a labelled set.

    Build it from labels and scores you already have (the constructor, or its alias
    :meth:`from_predictions`) or with :meth:`from_model` (predicts a dataset with a
    progress bar). Metrics follow scikit-learn: classes absent from the predictions get
    precision 0, not a crash; macro averages run over the classes present in the labels
    or the predictions.

    Args:
        y_true: True class indices ``(n,)`` or one-hot rows ``(n, k)``.
        y_score: Class probabilities or logits ``(n, k)`` (logits are recognised
            because rows do not sum to 1 or leave ``[0, 1]``, and get a softmax),
            or predicted class indices ``(n,)``.
        class_names: One name per class (``k`` names).
        paths: The image file of each row, when known: :attr:`predictions` then has a
            ``path`` column and the saved page shows the misclassified images.
        context: What was evaluated (model, data, split...), shown on top of the
            saved page and kept in ``report.json``; a ``"title"`` entry titles the page.
        uncalibrated: When ``y_score`` is calibrated: the same images' probabilities
            before calibration (temperature 1). The reliability figure then shows both.

    Raises:
        ValueError: Empty input, different lengths, ``class_names`` of the wrong
            length, labels out of range, or NaN/infinite scores.
        TypeError: Labels that are not integers.

    Attributes:
        y_true: True class indices.
        y_pred: Predicted class indices.
        y_score: Class probabilities ``(n, k)``, or ``None`` when built from labels.
        class_names: Class names.
        paths: Image files, one per row, or ``None``.
        context: The ``context`` given (a dict, empty by default).
        uncalibrated: The probabilities before calibration, or ``None``.

    Example:
        >>> report = EvaluationReport.from_predictions(
        ...     [0, 1, 2, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]],
        ...     class_names=["cat", "dog", "owl"])
        >>> report.accuracy, report.balanced_accuracy
        (0.75, 0.8333333333333334)
        >>> report.most_confused(1).to_dict("records")
        [{'true': 'owl', 'predicted': 'cat', 'count': 1, 'fraction_of_true': 0.5}]
        >>> report.mistakes()[["true", "predicted", "confidence"]].to_dict("records")
        [{'true': 'owl', 'predicted': 'cat', 'confidence': 0.6}]
        >>> import tempfile
        >>> files = report.save(tempfile.mkdtemp())
        >>> [name for name in files if name.endswith(".png")]
        ['confusion_matrix_top.png', 'confusion_matrix.png', 'per_class_recall.png', 'reliability.png']
    """


    @classmethod
    def from_model(
        cls,
        model: Any,
        dataset: Any,
        *,
        class_names: Sequence[str],
        flip_tta: bool = False,
        paths: Sequence[str | os.PathLike[str]] | None = None,
        context: Mapping[str, Any] | None = None,
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
            paths: The file of each image in the order the dataset yields them (an
                unshuffled :meth:`tlkit.ImageSet.to_dataset` keeps its ``paths`` order).
            context: What was evaluated (see the class).
            verbose: ``0`` silent, ``1`` a progress bar.

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
                                             flip=flip_tta, desc="Evaluating")
        return cls.from_predictions(labels, scores, class_names=class_names, paths=paths,
                                    context=context)

    # Plots, text and files (plots.py, render.py, saving.py) ------------------------------
    def __str__(self) -> str:
        return to_text(self)

    def to_markdown(self) -> str:
        """A Markdown summary: headline figures, most confused pairs, per-class table.

        Example:
            >>> report = EvaluationReport.from_predictions([0, 1], [0, 1], class_names=["a", "b"])
            >>> print(report.to_markdown().splitlines()[0])
            # Evaluation report
        """
        return to_markdown(self)

    def plot_confusion_matrix(self, *, normalize: str | None = "true",
                              only_confused: int | None = None, annotate: bool | None = None,
                              ax: Axes | None = None) -> Axes:
        """The confusion matrix as a heatmap (see :func:`tlkit.plot_confusion_matrix`).

        Args:
            normalize: ``"true"`` (shares of each true class) or ``None`` (counts).
            only_confused: Show only the classes of this many most frequent confusions.
            annotate: Write the values in the cells (default: up to 30 classes shown).
            ax: Axes to draw into (default: a new figure).

        Example:
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> ax = report.plot_confusion_matrix(only_confused=1)
            >>> [label.get_text() for label in ax.get_yticklabels()]  # confused side by side
            ['bee', 'ant']
        """
        return plot_confusion_matrix(self, normalize=normalize, only_confused=only_confused,
                                     annotate=annotate, ax=ax)

    def plot_per_class_recall(self, *, worst: int | None = None,
                              ax: Axes | None = None) -> Axes:
        """Per-class recall, worst first (see :func:`tlkit.plot_per_class_recall`).

        Args:
            worst: Show only this many classes with the lowest recall (default: all).
            ax: Axes to draw into (default: a new figure).

        Example:
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.plot_per_class_recall(worst=1).get_title()
            'Per-class recall, the 1 worst of 3 classes'
        """
        return plot_per_class_recall(self, worst=worst, ax=ax)

    def plot_reliability(self, *, n_bins: int = 15, ax: Axes | None = None) -> Axes:
        """A reliability diagram (see :func:`tlkit.plot_reliability`).

        Args:
            n_bins: Equal-width confidence bins.
            ax: Axes to draw into (default: a new figure).

        Example:
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> report.plot_reliability(n_bins=5).get_xlabel()
            'confidence (top-1 probability); numbers: images per bin'
        """
        return plot_reliability(self, n_bins=n_bins, ax=ax)

    def plot_mistakes(self, *, n: int = 12, columns: int = 4) -> list[Axes]:
        """The most confident mistakes as images (see :func:`tlkit.plot_mistakes`).

        Args:
            n: Mistakes shown.
            columns: Images per row.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "bee.png"
            >>> Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(path)
            >>> report = EvaluationReport([1], [[0.9, 0.1]], class_names=["ant", "bee"],
            ...                           paths=[path])
            >>> [ax.get_title() for ax in report.plot_mistakes()]
            ['true: bee\\npredicted: ant (90 %)']
        """
        return plot_mistakes(self, n=n, columns=columns)

    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False,
             links: Mapping[str, str] | None = None) -> dict[str, Path]:
        """Write JSON, CSV, PNG and one HTML page (see :func:`tlkit.save_report`).

        Args:
            directory: Created if needed.
            overwrite: Replace an earlier report there.
            links: ``{label: relative URL}`` of related files the page links to.

        Returns:
            ``{file name: path}`` of every file written.

        Example:
            >>> import tempfile
            >>> report = EvaluationReport([0, 1, 1, 2], [[0.8, 0.1, 0.1], [0.5, 0.4, 0.1],
            ...                                         [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]],
            ...                           class_names=["ant", "bee", "cow"])
            >>> files = report.save(tempfile.mkdtemp())
            >>> sorted(name for name in files if name.endswith(".csv"))
            ['confusion_matrix.csv', 'most_confused.csv', 'per_class.csv', 'predictions.csv']
        """
        return save_report(self, directory, overwrite=overwrite, links=links)

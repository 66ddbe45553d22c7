"""Calibration: one temperature fitted on held-out images; probabilities to take at their word.

A classifier's top probability should equal how often it is right. Label smoothing
(tlkit's default) trains under-confident models: on Caltech-101 the top class gets about
0.90 while 96 % of answers are right. Dividing the logits by one temperature ``T``
fitted on validation images by negative log-likelihood (Guo et al. 2017, "On
Calibration of Modern Neural Networks") fixes that without changing any answer:
``T < 1`` sharpens, ``T > 1`` softens, the argmax stays.

:func:`fit_temperature` fits ``T`` to probabilities; :func:`calibrate` does it for a
model and stores ``T`` in its :class:`tlkit.ClassifierHead`, so the saved model and
every export answer calibrated. With flip test-time augmentation the temperature is
fitted through the same average of image and mirror that the model predicts with.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy.optimize import minimize_scalar

from tlkit._checks import check_bool, check_int, type_error
from tlkit._predict import predict_with_labels
from tlkit.data import ImageSet
from tlkit.heads import ClassifierHead

__all__ = ["Calibration", "calibrate", "expected_calibration_error", "fit_temperature"]

TEMPERATURE_BOUNDS = (0.05, 20.0)
"""The temperatures :func:`fit_temperature` searches (wide: measured ones lie in 0.5-2)."""
_FLOOR = 1e-30  # probabilities are float32: a log of 0 would be -inf


def reliability_table(y_true: Any, y_score: Any, n_bins: int = 15) -> pd.DataFrame:
    """Predictions binned by top-1 confidence: count, accuracy and mean confidence per bin.

    Bins are ``n_bins`` equal widths of ``[0, 1]``, closed on the right; empty bins
    are left out. The table behind :func:`expected_calibration_error` and the
    reliability figure of :class:`tlkit.EvaluationReport`.

    Args:
        y_true: ``(n,)`` true class indices.
        y_score: ``(n, k)`` class probabilities.
        n_bins: Number of bins.

    Returns:
        Columns ``low``, ``high``, ``count``, ``accuracy``, ``confidence``.

    Example:
        >>> reliability_table([0, 1], [[0.9, 0.1], [0.6, 0.4]], n_bins=4)[["count", "accuracy"]]
           count  accuracy
        0      1       0.0
        1      1       1.0
    """
    n_bins = check_int("n_bins", n_bins, minimum=1)
    y_score = np.asarray(y_score, dtype=np.float64)
    confidence = y_score.max(axis=1)
    correct = y_score.argmax(axis=1) == np.asarray(y_true).reshape(-1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    rows = [{"low": edges[b], "high": edges[b + 1], "count": int(mask.sum()),
             "accuracy": float(correct[mask].mean()), "confidence": float(confidence[mask].mean())}
            for b in range(n_bins) if (mask := index == b).any()]
    return pd.DataFrame(rows, columns=["low", "high", "count", "accuracy", "confidence"])


def expected_calibration_error(y_true: Any, y_score: Any, n_bins: int = 15) -> float:
    """The support-weighted mean gap between accuracy and confidence over the bins.

    Args:
        y_true: ``(n,)`` true class indices.
        y_score: ``(n, k)`` class probabilities.
        n_bins: Number of equal-width confidence bins (see :func:`reliability_table`).

    Example:
        >>> expected_calibration_error([0, 0, 0, 1], [[0.75, 0.25]] * 4)
        0.0
    """
    table = reliability_table(y_true, y_score, n_bins)
    return float(np.sum(table["count"] * np.abs(table["accuracy"] - table["confidence"]))
                 / max(int(table["count"].sum()), 1))


def _views(probabilities: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities as ``(views, n, k)`` float64 and labels as ``(n,)`` ints, checked."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 2:
        p = p[None]
    y = np.asarray(labels).reshape(-1)
    if p.ndim != 3 or p.shape[1] != y.shape[0] or p.shape[1] == 0 or p.shape[2] < 2:
        raise ValueError(
            f"probabilities must be (n, k) or (views, n, k) with k >= 2 classes and one row "
            f"per label; received shape {np.asarray(probabilities).shape} for {y.shape[0]} "
            f"labels.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= p.shape[2]:
        raise ValueError(f"labels must be class indices in [0, {p.shape[2] - 1}]. Received: "
                         f"labels from {y.min()} to {y.max()} of dtype {y.dtype}.")
    return p, y.astype(np.int64)


def tempered_mean(views: np.ndarray, factor: float) -> np.ndarray:
    """Probabilities ``(views, n, k)`` of a head with temperature T, as from one with T x
    ``factor``, averaged over the views (``factor = 1 / T`` gives the uncalibrated ones)."""
    return _tempered(np.log(np.maximum(np.asarray(views, np.float64), _FLOOR)), factor)


def _tempered(log_p: np.ndarray, temperature: float) -> np.ndarray:
    """Mean over views of softmax(log p / T): what a head with temperature T predicts
    (log p differs from the logits by one constant per row, which the softmax ignores)."""
    z = log_p / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).mean(axis=0)


def _nll(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.maximum(picked, _FLOOR))))


def fit_temperature(y_true: Any, y_score: Any) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels``.

    A bounded one-dimensional search (scipy's ``minimize_scalar``) over
    ``log T`` in :data:`TEMPERATURE_BOUNDS`: deterministic, no learning rate.

    Args:
        y_true: ``(n,)`` true class indices.
        y_score: ``(n, k)`` probabilities at temperature 1, or ``(views, n, k)`` for
            test-time augmentation: the views are tempered one by one, then averaged,
            as the model does.

    Returns:
        The temperature (relative to the one that produced ``y_score``).

    Raises:
        ValueError: Shapes that do not match, or labels outside the classes.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> logits = rng.normal(size=(2000, 5)) * 4
        >>> labels = np.array([rng.choice(5, p=np.exp(l) / np.exp(l).sum()) for l in logits])
        >>> soft = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
        >>> round(fit_temperature(labels, soft), 1)  # logits were halved: T = 0.5 undoes it
        0.5
    """
    p, y = _views(y_score, y_true)
    log_p = np.log(np.maximum(p, _FLOOR))
    low, high = np.log(TEMPERATURE_BOUNDS)
    result = minimize_scalar(lambda log_t: _nll(_tempered(log_p, float(np.exp(log_t))), y),
                             bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the images it was fitted on.

    Attributes:
        temperature: The model's temperature after calibration (the fitted factor times
            the one it had).
        images: How many labelled images it was fitted on.
        ece_before: Expected calibration error (15 bins) before.
        ece_after: ... and after.
        nll_before: Negative log-likelihood (mean, nats) before.
        nll_after: ... and after.

    Example:
        >>> Calibration(0.6, 100, 0.12, 0.02, 0.3, 0.2).to_dict()["temperature"]
        0.6
    """

    temperature: float
    images: int
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float

    def to_dict(self) -> dict[str, float | int]:
        """The figures as a JSON-ready dict (rounded to 4 decimals)."""
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in dataclasses.asdict(self).items()}


def find_head(model: keras.Model) -> ClassifierHead | None:
    """The last :class:`tlkit.ClassifierHead` in ``model`` (searched depth first), if any."""
    found = None
    for layer in getattr(model, "layers", []):
        if isinstance(layer, ClassifierHead):
            found = layer
        elif isinstance(layer, keras.Model):
            found = find_head(layer) or found
    return found


def model_views(model: keras.Model, data: Any, labels: Any, *, flip_tta: bool,
                 batch_size: int, image_size: tuple[int, int] | None,
                 resize: str, verbose: int, desc: str = "Calibrating",
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The model's probabilities of each view (image, and its mirror with ``flip_tta``)."""
    if isinstance(data, ImageSet):
        size = image_size or tuple(int(s) for s in model.input_shape[1:3])
        dataset = data.to_dataset(batch_size, image_size=size, resize=resize)
    elif isinstance(data, tf.data.Dataset):
        dataset = data
    else:
        if labels is None:
            raise ValueError("labels are needed with pixels: calibrate(model, pixels, labels).")
        dataset = tf.data.Dataset.from_tensor_slices(
            (np.asarray(data, dtype=np.float32), np.asarray(labels))).batch(batch_size)
    # One pass: image and mirror from the same batch (a dataset that reshuffles on every
    # pass would pair the views of different images).
    scores, y = predict_with_labels(model, dataset, argument="data", verbose=verbose,
                                    desc=desc, flip="views" if flip_tta else False)
    return (scores if flip_tta else scores[None]), y


def calibrate(
    model: keras.Model | None,
    data: Any,
    labels: Any = None,
    *,
    flip_tta: bool = False,
    apply: bool = True,
    batch_size: int = 64,
    image_size: int | tuple[int, int] | None = None,
    resize: str = "stretch",
    verbose: int = 0,
) -> Calibration:
    """Fit one temperature on held-out labelled images and store it in the model.

    Fit on images the model did not train on (the validation split): on training
    images a model looks more confident than it is.

    Args:
        model: A classifier with a :class:`tlkit.ClassifierHead` (its temperature is
            set), or ``None`` when ``data`` are probabilities already.
        data: An :class:`tlkit.ImageSet`, a ``tf.data.Dataset`` of ``(pixels, label)``
            batches, pixels ``(n, h, w, 3)`` with ``labels``; or, with ``model=None``,
            probabilities ``(n, k)`` (or ``(views, n, k)``) with ``labels``.
        labels: True class indices, for pixels or probabilities.
        flip_tta: The model predicts the mean of each image and its mirror (as
            :class:`tlkit.TrainingRun` does with ``tta``): fit through that mean.
        apply: Set the fitted temperature in the model's head (else only report it).
        batch_size: Images per prediction batch.
        image_size: Size to load an ImageSet at (default: the model's input size).
        resize: Resize mode to load an ImageSet with.
        verbose: ``1`` shows progress bars.

    Returns:
        A :class:`Calibration`: the temperature and ECE/NLL before and after. When the
        fit reaches a bound of :data:`TEMPERATURE_BOUNDS` (every answer right, or a model
        near chance: no estimate), the temperature stays as it was, with a warning.

    Raises:
        ValueError: ``apply`` with a model that has no ClassifierHead, or probabilities
            and labels that do not match.
        TypeError: ``model`` is neither a Keras model nor ``None``.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(1)
        >>> logits = rng.normal(size=(1000, 4)) * 3
        >>> labels = np.array([rng.choice(4, p=np.exp(l) / np.exp(l).sum()) for l in logits])
        >>> soft = np.exp(logits / 3) / np.exp(logits / 3).sum(axis=1, keepdims=True)
        >>> result = calibrate(None, soft, labels)
        >>> round(result.temperature, 1), result.ece_after < result.ece_before
        (0.3, True)
    """
    check_bool("apply", apply)
    check_bool("flip_tta", flip_tta)
    verbose = check_int("verbose", verbose, minimum=0)
    head, current = None, 1.0
    if model is None:
        views, y = _views(data, labels)
    elif isinstance(model, keras.Model):
        head = find_head(model)
        if apply and head is None:
            raise ValueError("calibrate(apply=True) stores the temperature in the model's "
                             "tlkit.ClassifierHead, and this model has none; pass apply=False "
                             "to only fit it, and divide your logits by it yourself.")
        current = head.temperature if head is not None else 1.0
        raw, y = model_views(model, data, labels, flip_tta=flip_tta,
                              batch_size=check_int("batch_size", batch_size, minimum=1),
                              image_size=image_size, resize=resize, verbose=min(verbose, 1))
        views, y = _views(raw, y)
    else:
        raise type_error("model", model, "a keras.Model or None (with probabilities)")
    factor = fit_temperature(y, views)
    all_right = bool(np.all(views.mean(axis=0).argmax(axis=1) == y))
    if all_right or not TEMPERATURE_BOUNDS[0] * 1.01 < factor < TEMPERATURE_BOUNDS[1] * 0.99:
        # A bound is no estimate: every answer right pushes T to 0 (probabilities of 1.0
        # for the next, wrong, answers too), a model near chance pushes it up. Keep it.
        warnings.warn(
            f"These {len(y):,} images carry no estimate of the temperature ("
            + ("every answer is right: the fit would make every answer certain" if all_right
               else f"the fit reached the bound of its search {TEMPERATURE_BOUNDS}: a model "
                    f"near chance") + f"). The temperature stays {current:g}; calibrate on "
            f"more held-out images.", stacklevel=2)
        factor = 1.0
    before, after = views.mean(axis=0), tempered_mean(views, factor)
    result = Calibration(
        temperature=current * factor, images=int(len(y)),
        ece_before=expected_calibration_error(y, before),
        ece_after=expected_calibration_error(y, after),
        nll_before=_nll(before, y), nll_after=_nll(after, y))
    if apply and head is not None:
        head.set_temperature(result.temperature)
    return result

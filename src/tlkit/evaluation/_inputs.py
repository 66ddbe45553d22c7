"""Private: true labels and scores checked, and turned into predictions and probabilities."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from tlkit._checks import type_error


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


def validated_paths(paths: Any, n: int) -> list[str]:
    """One file path per row, as strings."""
    if isinstance(paths, (str, os.PathLike)) or not hasattr(paths, "__len__"):
        raise type_error("paths", paths, "a sequence of file paths, one per row")
    if len(paths) != n:
        raise ValueError(f"paths must hold one path per row ({n} rows). Received: "
                         f"{len(paths)} paths.")
    return [os.fspath(p) for p in paths]


def validated_context(context: Any) -> dict[str, Any]:
    """A copy of ``context`` with string keys (what the saved report shows on top)."""
    if context is None:
        return {}
    if not isinstance(context, Mapping) or not all(isinstance(k, str) for k in context):
        raise type_error("context", context, "a mapping with string keys")
    return dict(context)


def validated(y_true: Any, y_score: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Check labels and scores for ``k`` classes; return ``(y_true, y_pred, probabilities)``."""
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
    return true, pred, probabilities

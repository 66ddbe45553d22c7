"""Private: predict a labelled dataset in one pass (optional flip TTA), and tables of predictions.

Prediction runs through ONE traced function per model whose batch dimension is unknown,
so the last, smaller batch and the mirrored copies reuse the same graph, and so do later
calls with the same model. (Calling ``model.predict_on_batch`` per batch traced a new
function for every new shape and made TensorFlow warn about retracing.)
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tlkit._checks import check_int, type_error
from tlkit._progress import progress_bar
from tlkit.data import ImageSet
from tlkit.data.formats import check_decodes

# One traced function per (model, flip, image shape, dtype), kept while the model lives:
# TensorFlow counts traces of the same code across functions and warns after five.
_TRACED: weakref.WeakKeyDictionary[Any, dict[tuple, Callable[[Any], Any]]] = \
    weakref.WeakKeyDictionary()


def _traced_predict(model: Any, example: Any, flip: bool | str) -> Callable[[Any], Any]:
    """A ``tf.function`` of ``model`` for batches shaped like ``example`` (any batch size)."""
    spec = tf.TensorSpec([None, *example.shape[1:]], tf.as_dtype(example.dtype))
    key = (flip, tuple(spec.shape.as_list()), spec.dtype.name)
    try:
        cache = _TRACED.setdefault(model, {})
    except TypeError:  # not weak-referenceable: trace for this call only
        cache = {}
    if key not in cache:
        cache[key] = _trace(model, spec, flip)
    return cache[key]


def _trace(model: Any, spec: tf.TensorSpec, flip: bool | str) -> Callable[[Any], Any]:
    # The function holds the model weakly: it is the value of a WeakKeyDictionary keyed by
    # the model, and a strong reference there would keep every model tlkit ever predicted
    # with alive. (The traced graph captures the variables, not the model object.)
    model_ref = weakref.ref(model)

    @tf.function(input_signature=[spec])
    def predict(x: tf.Tensor) -> tf.Tensor:
        model = model_ref()
        output = tf.cast(model(x, training=False), tf.float32)
        if flip:
            mirrored = tf.reverse(x, axis=[2])  # (b, h, w, c): mirror the width
            other = tf.cast(model(mirrored, training=False), tf.float32)
            # "views": both, stacked (views, b, k), from the same batch in the same pass.
            output = tf.stack([output, other]) if flip == "views" else (output + other) / 2.0
        return output

    return predict


def predict_with_labels(
    model: Any, dataset: Any, *, argument: str, verbose: int, flip: bool | str = False,
    desc: str = "Predicting",
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(outputs, labels)`` of ``model`` over ``(x, y[, w])`` batches, with a progress bar.

    The dataset is read once, so a dataset that reshuffles on every pass stays aligned.
    With ``flip``, each output is the mean of the outputs for the images and for their
    horizontal mirrors (test-time augmentation); with ``flip="views"`` both are returned,
    stacked as ``(2, n, k)``.
    """
    try:
        total = int(dataset.cardinality())
        total = total if total > 0 else None
    except (AttributeError, TypeError):
        total = None
    predict = None
    outputs, labels = [], []
    for batch in progress_bar(dataset, total=total, desc=desc, unit="batch", verbose=verbose):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"{argument} must yield (x, y) or (x, y, sample_weight) batches.")
        x = batch[0] if isinstance(batch[0], tf.Tensor) else np.asarray(batch[0])
        if flip and len(x.shape) != 4:
            raise ValueError(f"flip test-time augmentation needs image batches (b, h, w, c), "
                             f"got shape {tuple(x.shape)}.")
        if predict is None:
            predict = _traced_predict(model, x, flip)
        outputs.append(predict(x).numpy())
        labels.append(np.asarray(batch[1]))
    if not outputs:
        raise ValueError(f"{argument} yielded no batches: there is nothing to predict.")
    return np.concatenate(outputs, axis=1 if flip == "views" else 0), np.concatenate(labels)


def prediction_table(score: Callable[[ImageSet], np.ndarray], class_names: list[str],
                     images: Any, *, top_k: int) -> pd.DataFrame:
    """One row per image file: the top classes, or why the file could not be read.

    ``score`` maps an ImageSet of readable files to class probabilities; ``images`` is a
    path, a list of paths (folders searched recursively, sorted) or an ImageSet.
    """
    top_k = min(check_int("top_k", top_k, minimum=1), len(class_names))
    paths = list(images.paths) if isinstance(images, ImageSet) else _files(images)
    reasons = [check_decodes(p) for p in paths]
    good = [p for p, reason in zip(paths, reasons) if reason is None]
    scores = dict(zip(good, score(ImageSet(good, np.zeros(len(good), int), class_names)))) \
        if good else {}
    rows = []
    for path, reason in zip(paths, reasons):
        if reason is not None:
            rows.append({"path": path, "class": None, "probability": None, "top": None,
                         "error": reason})
            continue
        order = np.argsort(-scores[path], kind="stable")[:top_k]
        top = [(class_names[i], float(scores[path][i])) for i in order]
        rows.append({"path": path, "class": top[0][0], "probability": top[0][1], "top": top,
                     "error": None})
    frame = pd.DataFrame(rows, columns=["path", "class", "probability", "top", "error"])
    return frame.astype(object).where(frame.notna(), None)  # None, never NaN, when absent


def _files(images: Any) -> list[str]:
    """Every file of ``images`` (a path or paths; folders searched recursively, sorted).

    A path that does not exist is kept: its row says so, as for an unreadable file.
    """
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, (bytes, dict)) or not isinstance(images, Iterable):
        raise type_error("images", images, "a path, a list of paths or an ImageSet")
    files: list[str] = []
    for item in images:
        path = Path(item)
        if path.is_dir():
            files += sorted(str(p) for p in path.rglob("*") if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(str(path))
    return files


def labels_by_name(images: ImageSet, class_names: list[str]) -> np.ndarray:
    """The labels of ``images`` as indices into a model's ``class_names`` (matched by name).

    Raises:
        ValueError: ``images`` has classes the model does not know (named).
    """
    unknown = [n for n in images.class_names if n not in class_names]
    if unknown:
        raise ValueError(
            f"data has classes this model was not trained on: {unknown[:10]}; its classes "
            f"are {class_names[:20]}{'...' if len(class_names) > 20 else ''}.")
    return images.match_classes(class_names, part="data").labels

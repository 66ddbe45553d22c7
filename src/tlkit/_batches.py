"""Private helper: predict a labelled dataset in one pass, keeping outputs and labels aligned."""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_with_labels(
    model: Any, dataset: Any, *, argument: str, verbose: int, flip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(outputs, labels)`` of ``model`` over ``(x, y[, w])`` batches, with a progress bar.

    The dataset is read once, so a dataset that reshuffles on every pass stays aligned.
    With ``flip``, each output is the mean of the outputs for the images and for their
    horizontal mirrors (test-time augmentation).
    """
    import keras

    try:
        total = int(dataset.cardinality())
        total = total if total > 0 else None
    except (AttributeError, TypeError):
        total = None
    progress = keras.utils.Progbar(total, unit_name="batch") if verbose else None
    outputs, labels = [], []
    for step, batch in enumerate(dataset, start=1):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(f"{argument} must yield (x, y) or (x, y, sample_weight) batches.")
        x = batch[0]
        output = np.asarray(model.predict_on_batch(x))
        if flip:
            if len(x.shape) != 4:
                raise ValueError(f"flip test-time augmentation needs image batches (b, h, w, c), "
                                 f"got shape {tuple(x.shape)}.")
            mirrored = np.asarray(x)[:, :, ::-1, :]
            output = (output + np.asarray(model.predict_on_batch(mirrored))) / 2.0
        outputs.append(output)
        labels.append(np.asarray(batch[1]))
        if progress is not None:
            progress.update(step)
    if not outputs:
        raise ValueError(f"{argument} yielded no batches: there is nothing to predict.")
    return np.concatenate(outputs), np.concatenate(labels)

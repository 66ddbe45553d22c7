"""Private helper: predict a labelled dataset in one pass, keeping outputs and labels aligned."""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_with_labels(model: Any, dataset: Any, *, argument: str, verbose: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(outputs, labels)`` of ``model`` over ``(x, y[, w])`` batches, with a progress bar.

    The dataset is read once, so a dataset that reshuffles on every pass stays aligned.
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
        outputs.append(np.asarray(model.predict_on_batch(batch[0])))
        labels.append(np.asarray(batch[1]))
        if progress is not None:
            progress.update(step)
    if not outputs:
        raise ValueError(f"{argument} yielded no batches: there is nothing to predict.")
    return np.concatenate(outputs), np.concatenate(labels)

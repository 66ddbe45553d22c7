"""The leakage check of :func:`tlkit.train`: how many test images have a near duplicate
among the training images.

A test image that is the same photo as a training image (re-encoded, resized, mirrored)
is, in effect, already seen: it inflates the test figure. The check compares the frozen
backbone's features of the test images with the clean training features the frozen phase
already extracted (so only the test images pass through the backbone once more, before
fine-tuning changes it), with :func:`tlkit.count_near_duplicates` and the audit's
threshold (:data:`tlkit.auditing.DUPLICATE_THRESHOLD`, calibrated for these features).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tlkit.auditing.duplicates import DUPLICATE_THRESHOLD, count_near_duplicates
from tlkit.data import ImageSet
from tlkit.features import extract_features

__all__ = ["LEAKAGE_METRIC", "leakage_words", "near_duplicate_leakage"]

LEAKAGE_METRIC = "test_images_with_a_near_duplicate_in_train"
"""The key of the count in ``metrics.json``."""


def near_duplicate_leakage(base: keras.Model, train_features: np.ndarray, test_set: ImageSet,
                           extract: dict[str, Any]) -> int | None:
    """How many test images have a near duplicate among the training images.

    Args:
        base: The frozen backbone the training features came from (before fine-tuning).
        train_features: The training images' clean features (one row per image).
        test_set: The test images.
        extract: The keyword arguments the training features were extracted with
            (``batch_size``, ``pooling``, ``resize``, ``verbose``).

    Returns:
        The count, or ``None`` without test images.
    """
    if not len(test_set) or not len(train_features):
        return None
    test_features, _ = extract_features(base, test_set, **extract)
    return count_near_duplicates(test_features, train_features)


def leakage_words(count: int | None, test_images: int, image_size: tuple[int, int]) -> str:
    """The test report's context line; ``image_size`` is the size the features were
    computed at (the count depends on it: ``TrainingOptions.feature_size``)."""
    if count is None:
        return "not checked: no test images"
    return (f"{count:,} of {test_images:,} test images have a near duplicate among the "
            f"training images (frozen-backbone features at {image_size[0]} x {image_size[1]} "
            f"px, cosine similarity >= "
            f"{DUPLICATE_THRESHOLD}); their answers may be remembered, not recognised")

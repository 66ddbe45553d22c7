"""Private: constants that need no TensorFlow, defined once here.

The command line builds its parser (``tlkit --help``) from them without importing
TensorFlow; their public homes (:mod:`tlkit.export`, :mod:`tlkit.workflow`) import them
from here, so ``tlkit.EXPORT_FORMATS is tlkit.export.EXPORT_FORMATS`` still holds.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXPORT_FORMATS", "QUANTIZATIONS", "QUICK", "RESIZE_MODES", "STRATEGIES"]

EXPORT_FORMATS = ("savedmodel", "tflite", "onnx")
"""The formats :func:`tlkit.export_model` writes."""

QUANTIZATIONS = ("none", "float16", "dynamic", "int8", "int8-safe")
"""The TFLite precisions: float32, float16 weights, int8 weights (dynamic range), full int8,
and int8 with the few layers int8 gets wrong kept in float."""

RESIZE_MODES = ("stretch", "crop", "pad")
"""How an image is brought to the model's size (see :func:`tlkit.data.pipeline.decode_resized`)."""

STRATEGIES = ("default", "mirrored", "multiworker")
"""Strategy names :func:`tlkit.make_strategy`, :func:`tlkit.train` and ``tlkit train`` accept."""

QUICK: dict[str, Any] = {"image_size": (128, 128), "head_epochs": 15, "views": 1,
                         "finetune_epochs": 1, "unfreeze": {0: 2}}
"""A smoke run: small images, few epochs (``tlkit train --quick``)."""

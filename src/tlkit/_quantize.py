"""Private: an int8 TFLite model that keeps in float the few layers int8 gets wrong.

Full int8 of a fine-tuned MobileNetV2 loses most of its answers in one or two layers:
TensorFlow's quantization debugger, run on the calibration images, gives every quantized
layer its error per quantization step (the root-mean-square difference between the int8
layer and the same layer in float, fed the same int8 input, divided by the output's
step). Rounding alone gives ``1 / sqrt(12)`` = 0.29 steps; on the Caltech-101 flagship
nearly every layer sits there, while the linear 1x1 "project" convolutions of the last
blocks reach 1-2 steps. ``int8-safe`` keeps in float the layers above
:data:`ERROR_STEPS` (most sensitive first, at most :data:`MAX_FLOAT_LAYERS`), and
everything else int8 (float32 pixels in: the model quantizes them on entry). The choice
reads only the calibration images, never labels, and is deterministic (the same images
give the same layers).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from tlkit._quiet import quiet_native_logs

__all__ = ["DEBUG_IMAGES", "ERROR_STEPS", "MAX_FLOAT_LAYERS", "int8_layer_errors",
           "int8_safe_tflite"]

ERROR_STEPS = 1.0
"""A layer whose int8 error exceeds this many quantization steps (RMS) is kept in float:
3.5x the error of rounding alone (0.29)."""

MAX_FLOAT_LAYERS = 3
"""At most this many layers are kept in float, the worst first (the file stays well under
float16's size). Measured on the Caltech-101 flagship (seeds 0, 1, 2; test split, no
test-time augmentation): two layers pass :data:`ERROR_STEPS` (the project convolutions of
blocks 13 and 16, 1.56-1.60 and 1.14-1.33 steps); keeping both in float raised top-1
agreement with Keras from 98.73/98.16/98.10 % (int8) to 99.14/98.50/98.85 % at 4.06 MB;
block 13's alone gave 99.02/98.50/98.39 % at 3.14 MB."""

DEBUG_IMAGES = 100
"""The errors are averaged over at most this many of the calibration images, spread
evenly over them (the debugger runs each image through every layer twice; the figures
above were measured on 100 of 300)."""


def _debugger(model: Any, representative: list[np.ndarray]) -> Any:
    """A quantization debugger for ``model`` calibrated on ``representative``."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in representative)
    step = max(1, math.ceil(len(representative) / DEBUG_IMAGES))
    debug = representative[::step]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            quiet_native_logs():  # the converter's settings, printed from C++
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([x] for x in debug))


def int8_layer_errors(debugger: Any) -> dict[str, float]:
    """Each quantized layer's RMS error in quantization steps, largest first.

    Keys are the layers' output tensor names (what ``denylisted_nodes`` takes); ties
    are broken by name, so the order is deterministic.
    """
    with warnings.catch_warnings(), quiet_native_logs():
        warnings.simplefilter("ignore")
        debugger.run()
    table = io.StringIO()
    debugger.layer_statistics_dump(table)
    table.seek(0)
    errors = {}
    for row in csv.DictReader(table):
        scale = float(row["scale"])
        if scale > 0:
            errors[row["tensor_name"]] = math.sqrt(float(row["mean_squared_error"])) / scale
    return dict(sorted(errors.items(), key=lambda item: (-item[1], item[0])))


def int8_safe_tflite(model: Any,
                     representative: list[np.ndarray]) -> tuple[bytes, dict[str, float]]:
    """An int8 TFLite model with its most sensitive layers in float.

    Returns:
        The file's bytes and the layers kept in float with their int8 error in steps.
    """
    debugger = _debugger(model, representative)
    errors = int8_layer_errors(debugger)
    kept = {name: round(error, 3) for name, error in errors.items()
            if error > ERROR_STEPS}
    kept = dict(list(kept.items())[:MAX_FLOAT_LAYERS])
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            quiet_native_logs():
        warnings.simplefilter("ignore")
        debugger.options = tf.lite.experimental.QuantizationDebugOptions(
            denylisted_nodes=list(kept))
        return debugger.get_nondebug_quantized_model(), kept

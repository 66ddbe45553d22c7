"""The Preprocessing layer: raw RGB pixels in ``[0, 255]`` to what a backbone expects."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tlkit._checks import check_choice

__all__ = ["PREPROCESSING_MODES", "Preprocessing"]

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
PREPROCESSING_MODES = ("tf", "caffe", "torch", "none")


@keras.saving.register_keras_serializable(package="tlkit")
class Preprocessing(keras.layers.Layer):
    """Map raw RGB pixels in ``[0, 255]`` to what a backbone expects.

    The modes follow ``keras.applications``: ``"tf"`` scales to ``[-1, 1]``
    (MobileNetV2), ``"caffe"`` flips RGB to BGR and subtracts the ImageNet mean
    (ResNet50), ``"torch"`` scales to ``[0, 1]`` and standardizes with the ImageNet
    mean and standard deviation, ``"none"`` passes pixels through (backbones such as
    EfficientNet that preprocess inside their own graph).

    Args:
        mode: One of ``"tf"``, ``"caffe"``, ``"torch"``, ``"none"``.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Example:
        >>> import numpy as np
        >>> layer = Preprocessing("tf")
        >>> np.asarray(layer(np.array([[0.0, 127.5, 255.0]]))).round(3).tolist()
        [[-1.0, 0.0, 1.0]]
    """

    def __init__(self, mode: str = "tf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, PREPROCESSING_MODES)

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor((0.485, 0.456, 0.406), dtype=self.compute_dtype)
            std = ops.convert_to_tensor((0.229, 0.224, 0.225), dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


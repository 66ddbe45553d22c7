"""Running an exported SavedModel folder with TensorFlow, through the predictor protocol."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tlkit._checks import type_error
from tlkit._exported import ExportedModel

__all__ = ["TensorFlowSavedModel"]


class TensorFlowSavedModel(ExportedModel):
    """A SavedModel folder written by :func:`tlkit.export_model`, run by TensorFlow.

    It implements the predictor protocol (:class:`tlkit.Predictor`) as
    :class:`tlkit.LiteRTModel` does, with the rule of its model card
    (``model_card.json`` in the folder).

    Args:
        path: The SavedModel folder (it has ``saved_model.pb`` and a ``serve`` signature
            taking float32 pixels).
        class_names: One name per output (default: from the card).

    Attributes:
        path: The folder.
        card: Its :class:`tlkit.ModelCard`.
        class_names: Class names, in output order.
        image_size: ``(height, width)`` the model takes.
        resize: How images are resized to it.
        runtime: ``"tensorflow"``.

    Example:
        >>> import tempfile, pathlib, numpy as np, tlkit
        >>> import keras  # any classifier of pixels to probabilities; a tiny one here
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> folder = pathlib.Path(tempfile.mkdtemp()) / "served"
        >>> served = TensorFlowSavedModel(tlkit.export_model(
        ...     model, folder, format="savedmodel", class_names=["cat", "dog"]))
        >>> served.class_names, served.predict_proba(np.zeros((3, 32, 32, 3))).shape
        (['cat', 'dog'], (3, 2))
    """

    def __init__(self, path: str | os.PathLike[str], *,
                 class_names: list[str] | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise type_error("path", path, "the path of a SavedModel folder")
        self.path = Path(path)
        if not (self.path / "saved_model.pb").is_file():
            raise FileNotFoundError(f"path={str(self.path)!r} is not a SavedModel folder (no "
                                    f"saved_model.pb); expected a folder written by tlkit export.")
        import tensorflow as tf

        self._loaded = tf.saved_model.load(str(self.path))
        if not hasattr(self._loaded, "serve"):
            raise ValueError(f"path={str(self.path)!r} has no 'serve' endpoint; expected a "
                             f"SavedModel written by tlkit export.")
        spec = self._loaded.serve.input_signature[0]
        size = (int(spec.shape[1]), int(spec.shape[2]))
        outputs = int(self._loaded.serve(tf.zeros((1, *size, 3))).shape[-1])
        self.runtime = "tensorflow"
        self.card = self._card(self.path, "savedmodel", size, outputs, class_names)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        return self._loaded.serve(tf.constant(pixels, tf.float32)).numpy()

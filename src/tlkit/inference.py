"""One inference layer: the predictor protocol, and opening any saved model as a predictor.

A trained run (:class:`tlkit.TrainingRun`), an exported ``.tflite`` file
(:class:`tlkit.LiteRTModel`), an exported SavedModel folder
(:class:`tlkit.TensorFlowSavedModel`) and an exported ``.onnx`` file
(:class:`tlkit.OnnxModel`) answer through the same four names, with one
meaning each, after scikit-learn and Keras:

* ``predict_proba(pixels)``: class probabilities ``(n, classes)`` for RGB pixels
  ``(n, h, w, 3)`` in ``[0, 255]`` at the model's size (calibrated, with the test-time
  rule of the model card);
* ``predict(images, top_k=5)``: a table, one row per image file (top classes, or why the
  file could not be read);
* ``evaluate(data)``: an :class:`tlkit.EvaluationReport` on a labelled folder, classes
  matched by name;
* ``card``: the :class:`tlkit.ModelCard` (class names, image size, resize, test-time rule,
  temperature, precision).

:func:`load_predictor` opens any of them from a path by what the path holds (a run
folder, a SavedModel folder, a TFLite flatbuffer, an ONNX file), not by its suffix; ``tlkit evaluate``
and ``tlkit predict`` use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tlkit._checks import type_error
from tlkit.evaluation import EvaluationReport
from tlkit.model_card import ModelCard

__all__ = ["Predictor", "load_predictor"]


@runtime_checkable
class Predictor(Protocol):
    """What every predictor of tlkit implements (see the module docstring).

    Example:
        >>> import keras, tlkit
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> isinstance(tlkit.TrainingRun(model, ["cat", "dog"]), Predictor)
        True
    """

    @property
    def card(self) -> ModelCard:
        """The model card: how the model answers."""
        ...  # pragma: no cover - a protocol has no body

    @property
    def class_names(self) -> list[str]:
        """Class names, in output order."""
        ...  # pragma: no cover

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` the model takes."""
        ...  # pragma: no cover

    def predict_proba(self, pixels: Any, *, verbose: int = 0) -> np.ndarray:
        """Class probabilities ``(n, classes)``, calibrated, by the card's test-time rule.

        Args:
            pixels: RGB images ``(n, height, width, 3)`` in ``[0, 255]`` at :attr:`image_size`.
            verbose: ``1`` shows a progress bar.
        """
        ...  # pragma: no cover

    def predict(self, images: Any, *, top_k: int = 5, verbose: int = 0) -> pd.DataFrame:
        """One row per image file: top classes, or why it could not be read.

        Args:
            images: A file or folder path, a list of them, or an :class:`tlkit.ImageSet`.
            top_k: Classes listed per image, most probable first.
            verbose: ``1`` shows a progress bar.
        """
        ...  # pragma: no cover

    def evaluate(self, data: Any, *, verbose: int = 0) -> EvaluationReport:
        """An :class:`tlkit.EvaluationReport` on labelled images, classes matched by name.

        Args:
            data: A folder with one sub-folder per class, or an :class:`tlkit.ImageSet`.
            verbose: ``1`` shows progress bars.
        """
        ...  # pragma: no cover


def _kind(path: Path) -> str:
    """What ``path`` holds: ``"run"``, ``"savedmodel"``, ``"tflite"`` or ``"onnx"``."""
    if path.is_dir():
        if (path / "model.keras").is_file() and (path / "config.json").is_file():
            return "run"
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise ValueError(f"path={str(path)!r} is not a run folder (it has no model.keras and "
                         f"config.json) nor an exported SavedModel folder (no saved_model.pb).")
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r} does not exist; expected a run folder or "
                                f"an exported model (.tflite or .onnx file, SavedModel folder).")
    with path.open("rb") as file:
        head = file.read(8)
    if head[4:8] == b"TFL3":  # the TFLite flatbuffer's identifier
        return "tflite"
    card = ModelCard.read(path)
    if card is not None and card.format in ("tflite", "onnx"):
        return card.format
    if head[:1] == b"\x08":  # an ONNX ModelProto starts with its ir_version (field 1, varint)
        return "onnx"
    raise ValueError(f"path={str(path)!r} is not a model tlkit can run: not a TFLite flatbuffer "
                     f"nor an ONNX file, and no model card beside it ({path.name}.json).")


def load_predictor(path: str | os.PathLike[str], *, data_root: str | os.PathLike[str] | None
                   = None) -> Predictor:
    """Open a saved model as a :class:`Predictor`, by what ``path`` holds.

    Args:
        path: A run folder (``tlkit train``), a SavedModel folder, a ``.tflite`` or an
            ``.onnx`` file (``tlkit export``).
        data_root: For a run folder whose images moved: where they are now (see
            :meth:`tlkit.TrainingRun.load`).

    Returns:
        A :class:`tlkit.TrainingRun`, :class:`tlkit.TensorFlowSavedModel`,
        :class:`tlkit.LiteRTModel` or :class:`tlkit.OnnxModel`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` holds no model tlkit can run (the message says what it
            looked for).

    Example:
        >>> import tempfile, pathlib, tlkit
        >>> import keras  # any classifier of pixels to probabilities; a tiny one here
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> path = tlkit.export_model(model, folder / "pets", class_names=["cat", "dog"])
        >>> type(load_predictor(path)).__name__  # a TFLite file, whatever its name
        'LiteRTModel'
        >>> load_predictor(folder / "nothing.tflite")
        Traceback (most recent call last):
        ...
        FileNotFoundError: path='.../nothing.tflite' does not exist; ...
    """
    if not isinstance(path, (str, os.PathLike)):
        raise type_error("path", path, "a path to a run folder or an exported model")
    path = Path(path)
    kind = _kind(path)
    if kind == "run":
        from tlkit.workflow import TrainingRun

        return TrainingRun.load(path, data_root=data_root)
    if kind == "savedmodel":
        from tlkit.savedmodel import TensorFlowSavedModel

        return TensorFlowSavedModel(path)
    if kind == "tflite":
        from tlkit.litert import LiteRTModel

        return LiteRTModel(path)
    from tlkit.onnx_model import OnnxModel

    return OnnxModel(path)

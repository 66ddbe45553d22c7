"""ONNX: writing a classifier as an ``.onnx`` file, and running one with ONNX Runtime.

Keras writes the file (``model.export(format="onnx")``, which converts the traced
TensorFlow graph with ``tf2onnx``); ``onnxruntime`` runs it. Both come with
``pip install "tlkit[deploy]"``.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tlkit._checks import check_int, type_error
from tlkit._exported import ExportedModel

__all__ = ["OnnxModel"]

_INSTALL = 'pip install "tlkit[deploy]" (or: pip install onnxruntime tf2onnx)'


def _require(module: str) -> Any:
    """Import an optional ONNX package, or say which one to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"ONNX needs the {module} package, which is not installed: "
                          f"{_INSTALL}.") from error


def write_onnx(model: Any, path: Path) -> None:
    """Write ``model`` (pixels in, probabilities out) as an ONNX file at ``path``."""
    _require("tf2onnx")
    import numpy as np

    size = tuple(int(s) for s in model.input_shape[1:])
    model(np.zeros((1, *size), np.float32))  # Keras exports only a model that has run
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf2onnx's deprecation notices about NumPy
        try:
            model.export(str(path), format="onnx", verbose=False)
        except Exception as error:  # noqa: BLE001 - the converter raises many kinds
            raise RuntimeError(f"ONNX conversion failed: {str(error)[:600]}") from error


class OnnxModel(ExportedModel):
    """An exported ``.onnx`` classifier, run by ONNX Runtime (``pip install "tlkit[deploy]"``).

    It implements the predictor protocol (:class:`tlkit.Predictor`) as
    :class:`tlkit.LiteRTModel` does, with the rule of its model card (``<file>.json``).

    Args:
        path: The ``.onnx`` file written by :func:`tlkit.export_model` (``format="onnx"``).
        class_names: One name per output (default: from the card).
        num_threads: CPU threads of the session (default: ONNX Runtime's choice).

    Attributes:
        path: The file.
        card: Its :class:`tlkit.ModelCard`.
        class_names: Class names, in output order.
        image_size: ``(height, width)`` the model takes.
        resize: How images are resized to it.
        runtime: ``"onnxruntime"``.

    Raises:
        ImportError: ``onnxruntime`` is not installed (the message says how to install it).
        ValueError: ``path`` is not a model ONNX Runtime can load.

    Example:
        >>> import tempfile, pathlib, numpy as np, tlkit
        >>> import keras  # any classifier of pixels to probabilities; a tiny one here
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> path = tlkit.export_model(model, pathlib.Path(tempfile.mkdtemp()) / "m.onnx",
        ...                           format="onnx", class_names=["cat", "dog"])
        >>> onnx = OnnxModel(path)
        >>> onnx.class_names, onnx.predict_proba(np.zeros((3, 32, 32, 3))).shape
        (['cat', 'dog'], (3, 2))
    """

    def __init__(self, path: str | os.PathLike[str], *, class_names: list[str] | None = None,
                 num_threads: int | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise type_error("path", path, "the path of an .onnx file")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path={str(self.path)!r} does not exist; expected an "
                                    f".onnx file written by tlkit export.")
        ort = _require("onnxruntime")
        options = ort.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = check_int("num_threads", num_threads, minimum=1)
        try:
            self._session = ort.InferenceSession(str(self.path), sess_options=options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime's own error types
            raise ValueError(f"path={str(self.path)!r} is not an ONNX model ONNX Runtime can "
                             f"run: {str(error)[:300]}") from None
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        size = (int(model_input.shape[1]), int(model_input.shape[2]))
        outputs = int(self._session.get_outputs()[0].shape[-1])
        self.runtime = "onnxruntime"
        self.card = self._card(self.path, "onnx", size, outputs, class_names)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input_name: pixels.astype(np.float32)})[0]

"""Running an exported ``.tflite`` classifier, so its accuracy is measured, not assumed.

The LiteRT interpreter of the ``ai-edge-litert`` package is used when it is installed
(``pip install "tlkit[deploy]"``); otherwise TensorFlow's own ``tf.lite.Interpreter``,
which TensorFlow marks as deprecated in its favour.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tlkit._checks import check_int, type_error
from tlkit._exported import ExportedModel
from tlkit._quiet import quiet_native_logs

__all__ = ["LiteRTModel"]


def interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` if installed, else ``tf.lite.Interpreter``."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


def op_resolver_without_delegates() -> Any:
    """The resolver that shows a model's own ops (no XNNPACK delegate folding them)."""
    try:
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:
        import tensorflow as tf

        OpResolverType = tf.lite.experimental.OpResolverType  # noqa: N806
    return OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _describe(detail: dict[str, Any]) -> dict[str, Any]:
    scale, zero = detail["quantization"]
    return {"dtype": np.dtype(detail["dtype"]).name, "shape": [int(s) for s in detail["shape"]],
            "quantization": {"scale": float(scale), "zero_point": int(zero)}}


def tflite_io_details(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Input and output of a ``.tflite`` file, from the file alone (no model card read)."""
    with warnings.catch_warnings(), quiet_native_logs():
        warnings.simplefilter("ignore")
        interpreter = interpreter_class()(model_path=str(path))
        interpreter.allocate_tensors()
    return {"input": _describe(interpreter.get_input_details()[0]),
            "output": _describe(interpreter.get_output_details()[0])}


class LiteRTModel(ExportedModel):
    """An exported ``.tflite`` classifier: predict pixels or images, evaluate, inspect.

    It implements the predictor protocol (:class:`tlkit.Predictor`): ``predict_proba``,
    ``predict`` and ``evaluate`` answer as the run the file came from, by the rule of
    its model card (:class:`tlkit.ModelCard`, ``<file>.json``).

    Args:
        path: The ``.tflite`` file. Its model card (written by :func:`tlkit.export_model`)
            gives class names, the resize mode and the test-time rule.
        class_names: One name per output (default: from the card).
        num_threads: CPU threads of the interpreter (default: LiteRT's choice).

    Attributes:
        path: The file.
        card: Its :class:`tlkit.ModelCard` (made from the file itself when it has none).
        class_names: Class names, in output order.
        image_size: ``(height, width)`` the model takes.
        resize: How images are resized to it.
        runtime: The interpreter in use: ``"ai_edge_litert"`` or ``"tensorflow"``.

    Example:
        >>> import tempfile, pathlib, numpy as np, tlkit
        >>> backbone = tlkit.build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> model = tlkit.build_classifier(backbone, tlkit.ClassifierHead(2, hidden_units=()))
        >>> path = tlkit.export_model(model, pathlib.Path(tempfile.mkdtemp()) / "m.tflite",
        ...                           class_names=["cat", "dog"])
        >>> lite = LiteRTModel(path)
        >>> lite.class_names, lite.predict_proba(np.zeros((3, 32, 32, 3), "uint8")).shape
        (['cat', 'dog'], (3, 2))
    """

    def __init__(self, path: str | os.PathLike[str], *, class_names: list[str] | None = None,
                 num_threads: int | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise type_error("path", path, "the path of a .tflite file")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"path={str(self.path)!r} does not exist; expected a "
                                    f".tflite file written by tlkit export.")
        threads = None if num_threads is None else check_int("num_threads", num_threads,
                                                             minimum=1)
        with warnings.catch_warnings(), quiet_native_logs():  # the delegate's INFO line
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            self._interpreter = interpreter_class()(model_path=str(self.path),
                                                    num_threads=threads)
            self._interpreter.allocate_tensors()
        self.runtime = type(self._interpreter).__module__.split(".")[0]
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        self.card = self._card(self.path, "tflite", size, int(self._output["shape"][-1]),
                               class_names)

    def io_details(self) -> dict[str, Any]:
        """Input and output type, shape and quantization ``(scale, zero_point)``."""
        return {"input": _describe(self._input), "output": _describe(self._output)}

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        return np.stack([self._invoke(image) for image in pixels])

    def _invoke(self, pixels: np.ndarray) -> np.ndarray:
        dtype = np.dtype(self._input["dtype"])
        x = pixels[None]
        if dtype != np.float32:  # quantized input: pixels -> stored integers
            scale, zero = self._input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / (scale or 1.0) + zero), info.min, info.max)
        self._interpreter.set_tensor(self._input["index"], x.astype(dtype))
        self._interpreter.invoke()
        out = self._interpreter.get_tensor(self._output["index"])[0]
        if np.dtype(self._output["dtype"]) != np.float32:
            scale, zero = self._output["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        return out.astype(np.float32)

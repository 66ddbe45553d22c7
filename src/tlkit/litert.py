"""Running an exported ``.tflite`` classifier, so its accuracy is measured, not assumed.

The LiteRT interpreter of the ``ai-edge-litert`` package is used when it is installed
(``pip install "tlkit[deploy]"``); otherwise TensorFlow's own ``tf.lite.Interpreter``,
which TensorFlow marks as deprecated in its favour.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tlkit._checks import check_int, check_pixels, type_error
from tlkit._predict import labels_by_name, prediction_table
from tlkit._progress import progress_bar
from tlkit.data import ImageFolder, ImageSet
from tlkit.evaluation import EvaluationReport

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


class LiteRTModel:
    """An exported ``.tflite`` classifier: predict pixels or images, evaluate, inspect.

    Args:
        path: The ``.tflite`` file. Its ``<file>.json`` (written by
            :func:`tlkit.export_model`) gives class names and the resize mode.
        class_names: One name per output (default: from the JSON).
        num_threads: CPU threads of the interpreter (default: LiteRT's choice).

    Attributes:
        path: The file.
        class_names: Class names, in output order.
        image_size: ``(height, width)`` the model takes.
        resize: How images are resized to it (from the JSON; ``"stretch"`` otherwise).
        metadata: The JSON beside the file (empty if absent).
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
        meta_path = self.path.with_name(self.path.name + ".json")
        self.metadata: dict[str, Any] = json.loads(meta_path.read_text()) \
            if meta_path.is_file() else {}
        with warnings.catch_warnings():  # tf.lite.Interpreter's deprecation notice
            warnings.simplefilter("ignore")
            self._interpreter = interpreter_class()(
                model_path=str(self.path),
                num_threads=None if num_threads is None else check_int(
                    "num_threads", num_threads, minimum=1))
        self.runtime = type(self._interpreter).__module__.split(".")[0]
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.image_size = (int(self._input["shape"][1]), int(self._input["shape"][2]))
        self.resize = self.metadata.get("resize", "stretch")
        outputs = int(self._output["shape"][-1])
        names = class_names or self.metadata.get("class_names") or [str(i) for i in range(outputs)]
        if len(names) != outputs:
            raise ValueError(f"class_names has {len(names)} names but the model has {outputs} "
                             f"outputs. Received: class_names={names[:5]}...")
        self.class_names = list(names)

    def io_details(self) -> dict[str, Any]:
        """Input and output type, shape and quantization ``(scale, zero_point)``."""
        def describe(detail: dict[str, Any]) -> dict[str, Any]:
            scale, zero = detail["quantization"]
            return {"dtype": np.dtype(detail["dtype"]).name,
                    "shape": [int(s) for s in detail["shape"]],
                    "quantization": {"scale": float(scale), "zero_point": int(zero)}}
        return {"input": describe(self._input), "output": describe(self._output)}

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

    def predict_proba(self, pixels: Any, *, verbose: int = 0) -> np.ndarray:
        """Class probabilities for pixels ``(n, h, w, 3)`` in ``[0, 255]`` at the model's size.

        Args:
            pixels: RGB images ``(n, height, width, 3)`` in ``[0, 255]`` at :attr:`image_size`.
            verbose: ``1`` shows a progress bar.

        Raises:
            ValueError: The pixels are not ``(n, h, w, 3)`` at the model's size.
        """
        batch = check_pixels("pixels", pixels, self.image_size)
        rows = [self._invoke(image) for image in progress_bar(
            batch, total=len(batch), desc="LiteRT", unit="image", verbose=verbose)]
        return np.stack(rows) if rows else np.zeros((0, len(self.class_names)), np.float32)

    def _predict_images(self, images: ImageSet, *, verbose: int = 0) -> np.ndarray:
        """Class probabilities for image files, resized as the export's JSON says.

        Args:
            images: An :class:`tlkit.ImageSet` of readable image files.
            verbose: ``1`` shows a progress bar.
        """
        if not isinstance(images, ImageSet):
            raise type_error("images", images, "a tlkit ImageSet")
        dataset = images.to_dataset(32, image_size=self.image_size, resize=self.resize)
        parts = [self.predict_proba(x.numpy()) for x, _ in progress_bar(
            dataset, total=int(dataset.cardinality()), desc="LiteRT", unit="batch",
            verbose=verbose)]
        return np.concatenate(parts)

    def predict(self, images: Any, *, top_k: int = 5, verbose: int = 0) -> pd.DataFrame:
        """One row per image file, as :meth:`tlkit.TrainingRun.predict` (unreadable files
        get their reason in ``error``).

        Args:
            images: A file or folder path, a list of them, or an :class:`tlkit.ImageSet`.
            top_k: Classes listed per image, most probable first.
            verbose: ``1`` shows a progress bar.
        """
        return prediction_table(lambda good: self._predict_images(good, verbose=verbose),
                                self.class_names, images, top_k=top_k)

    def evaluate(self, data: Any, *, verbose: int = 0) -> EvaluationReport:
        """An :class:`tlkit.EvaluationReport` of this file on labelled images.

        Args:
            data: An :class:`tlkit.ImageSet` or a folder with one sub-folder per class
                (classes matched by name).
            verbose: ``1`` shows progress bars.

        Raises:
            ValueError: ``data`` has classes the model does not know (named).
        """
        images = data if isinstance(data, ImageSet) else ImageFolder(data, verbose=verbose)
        labels = labels_by_name(images, self.class_names)
        scores = self._predict_images(images, verbose=verbose)
        height, width = self.image_size
        context = {"title": f"Evaluation report: {self.path.name}",
                   "model": f"{self.path} ({self.runtime}, {height} x {width} pixels)",
                   "data": f"{len(images):,} images"
                           + ("" if isinstance(data, ImageSet) else f" of {os.path.abspath(data)}")}
        return EvaluationReport(labels, scores, class_names=self.class_names,
                                paths=images.paths, context=context)

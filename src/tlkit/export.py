"""Export a classifier for serving and devices: SavedModel, ONNX, and TFLite in five precisions.

Every export keeps the backbone's preprocessing inside (it takes raw RGB pixels in
``[0, 255]``), leaves the augmentation layers out, and keeps the calibrated temperature
and (when the run used it) the flip test-time average in its graph, so it answers as the
run does. Beside each file go its model card (:class:`tlkit.ModelCard`: ``<file>.json``,
or ``model_card.json`` inside a SavedModel folder: class names, input size, resize mode,
input type and quantization, test-time rule, temperature, versions) and
``<file>.labels.txt``, so an exported model can be used without tlkit;
:func:`tlkit.load_predictor` opens it as a :class:`tlkit.Predictor`.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tlkit._checks import (
    check_bool,
    check_choice,
    check_int,
    check_names,
    check_number,
    type_error,
)
from tlkit._constants import EXPORT_FORMATS, QUANTIZATIONS, RESIZE_MODES  # no TensorFlow
from tlkit._environment import versions
from tlkit._export_paths import (
    check_replaceable,
    check_side_files,
    labels_path,
    remove,
    replace_with,
    staging_path,
)
from tlkit._quantize import int8_safe_tflite
from tlkit._quiet import quiet_native_logs
from tlkit.augment import AugmentationLayer
from tlkit.data import ImageSet
from tlkit.fidelity import FIDELITY_SPLITS, measure_fidelity
from tlkit.litert import interpreter_class, op_resolver_without_delegates, tflite_io_details
from tlkit.model_card import ModelCard, card_path

__all__ = ["EXPORT_FORMATS", "QUANTIZATIONS", "export_model", "inference_model"]

_RANDOM_LAYERS = (AugmentationLayer, keras.layers.RandomFlip, keras.layers.RandomRotation,
                  keras.layers.RandomZoom, keras.layers.RandomTranslation,
                  keras.layers.RandomContrast, keras.layers.RandomBrightness)


def inference_model(model: keras.Model, *, flip_tta: bool = False) -> keras.Model:
    """``model`` without its augmentation layers (they are the identity at inference).

    Args:
        model: A model from :func:`tlkit.build_classifier` or :func:`tlkit.train` (any Keras model works).
        flip_tta: Answer with the mean of the outputs for each image and its mirror
            (what a :class:`tlkit.TrainingRun` with ``tta`` predicts), inside the graph:
            an export then gives the run's own numbers, at twice the compute.

    Example:
        >>> import numpy as np, tlkit
        >>> backbone = tlkit.build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> model = tlkit.build_classifier(backbone, tlkit.ClassifierHead(2),
        ...                                augment=tlkit.AugmentationPolicy.preset("light"))
        >>> [type(layer).__name__ for layer in inference_model(model).layers]
        ['InputLayer', 'Functional', 'ClassifierHead']
        >>> x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
        >>> both = (model(x) + model(x[:, :, ::-1])) / 2
        >>> bool(np.allclose(inference_model(model, flip_tta=True)(x), both, atol=1e-6))
        True
    """
    if not isinstance(model, keras.Model):
        raise type_error("model", model, "a keras.Model")
    check_bool("flip_tta", flip_tta)
    core = model
    if any(isinstance(layer, _RANDOM_LAYERS) for layer in model.layers):
        inputs = keras.Input(model.input_shape[1:], name=model.inputs[0].name.split(":")[0])
        x = inputs
        for layer in model.layers[1:]:  # a build_classifier model is one chain of layers
            if not isinstance(layer, _RANDOM_LAYERS):
                x = layer(x)
        core = keras.Model(inputs, x, name=model.name)
    if not flip_tta:
        return core
    inputs = keras.Input(core.input_shape[1:], name=core.inputs[0].name.split(":")[0])
    mirrored = keras.ops.flip(inputs, axis=2)  # (b, h, w, c): mirror the width
    outputs = keras.layers.Average(name="flip_average")([core(inputs), core(mirrored)])
    return keras.Model(inputs, outputs, name=f"{core.name}_flip_tta")


def _representative(images: Any, size: tuple[int, int], resize: str, count: int,
                    seed: int) -> list[np.ndarray]:
    """Up to ``count`` calibration images (stratified by class for an ImageSet)."""
    if isinstance(images, ImageSet):
        if len(images) == 0:
            raise ValueError("representative: the image set is empty; int8 needs images to "
                             "calibrate on (a few hundred training images).")
        gone = [p for p in images.paths if not os.path.isfile(p)]
        if gone:
            raise FileNotFoundError(
                f"representative: {len(gone):,} of {len(images):,} calibration images are not "
                f"there (e.g. {gone[0]!r}): the run folder was moved or its images were. "
                f"Pass representative= (--representative FOLDER) with training images, or "
                f"load the run with TrainingRun.load(directory, data_root=NEW_ROOT) "
                f"(--data-root NEW_ROOT).")
        if count < len(images):  # a stratified sample: every class has its say in the ranges
            with warnings.catch_warnings():  # classes too small for the sample: fine here
                warnings.simplefilter("ignore")
                images = images.split(val=0.0, test=count / len(images), seed=seed).test
        dataset = images.to_dataset(1, image_size=size, resize=resize)
        return [x.numpy() for x, _ in dataset.take(count)]
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 4 or array.shape[0] == 0:
        raise ValueError(f"representative must be an ImageSet or pixels (n, h, w, 3) with n >= 1. "
                         f"Received: shape {array.shape}.")
    return [array[i:i + 1] for i in range(min(count, len(array)))]


def _card(run: Any, names: list[str], size: tuple[int, int], resize: str, format: str,  # noqa: A002
          quantize: str, flip_tta: bool, model: keras.Model) -> ModelCard:
    """The export's model card: the run's (if any), as this file answers.

    A run that predicts with the flip average and a file without it in its graph: the
    card says the predictor averages, so the file still answers as the run does.
    """
    from tlkit.calibration import find_head

    head = find_head(model)
    run_flips = bool(run.options.tta) if run is not None else False
    tta = "flip average in the graph" if flip_tta else \
        "flip average by the predictor" if run_flips else "none"
    base = run.card if run is not None else None
    return ModelCard(
        names, size, format=format, resize=resize, test_time_augmentation=tta,
        temperature=None if head is None else round(head.temperature, 6), quantize=quantize,
        backbone=base.backbone if base else "", weights=base.weights if base else None,
        data_root=base.data_root if base else None,
        source=str(run.source.resolve()) if run is not None and run.source else None,
        versions=versions())


def _check_builtin(content: bytes, quantize: str) -> None:
    """Fail when the converter let a non-builtin (Flex or custom) op into the file."""
    with quiet_native_logs():
        interpreter = interpreter_class()(
            model_content=content, experimental_op_resolver_type=op_resolver_without_delegates())
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the interpreter's own op listing
    foreign = sorted({op["op_name"] for op in ops
                      if op["op_name"].startswith("Flex") or op["op_name"] in ("CUSTOM",)})
    if foreign:
        raise ValueError(f"The {quantize} TFLite model needs ops outside TFLite's builtins: "
                         f"{foreign}; it would not run on a plain LiteRT runtime.")


def _tflite(model: keras.Model, quantize: str, representative: list[np.ndarray] | None) -> bytes:
    # from_keras_model, not from_concrete_functions: the latter gave NaN outputs here
    # (TF 2.21, Keras 3.15), the weights not reaching the converted graph.
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # Builtin ops only: a model that needs Flex ops fails here, naming them.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in representative or [])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8  # raw pixels in, probabilities out
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its signatures
        try:
            with quiet_native_logs():  # its settings, printed from C++
                return converter.convert()
        except Exception as error:  # noqa: BLE001 - the converter raises many kinds
            # A converter failure is TensorFlow's, not a bad argument: not a ValueError
            # (the command line shows it with its traceback, exit status 1).
            raise RuntimeError(f"TFLite conversion ({quantize}) failed: {str(error)[:600]}") \
                from error


def _savedmodel(model: keras.Model, path: Path) -> None:
    size = model.input_shape[1:]

    @tf.autograph.experimental.do_not_convert
    def serve(pixels: tf.Tensor) -> tf.Tensor:
        return model(pixels, training=False)

    @tf.autograph.experimental.do_not_convert
    def serve_uint8(pixels: tf.Tensor) -> tf.Tensor:
        return model(tf.cast(pixels, tf.float32), training=False)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", serve,
                         input_signature=[tf.TensorSpec((None, *size), tf.float32, name="pixels")])
    archive.add_endpoint("serve_uint8", serve_uint8,
                         input_signature=[tf.TensorSpec((None, *size), tf.uint8, name="pixels")])
    with contextlib.redirect_stdout(io.StringIO()):
        archive.write_out(str(path))


def export_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    format: str = "tflite",  # noqa: A002 - the word users know from model.export(format=...)
    quantize: str = "none",
    class_names: list[str] | None = None,
    representative: Any = None,
    calibration_images: int = 300,
    resize: str | None = None,
    overwrite: bool = False,
    seed: int = 0,
    flip_tta: bool | None = None,
    check: str | None = "validation",
    max_drop: float = 0.005,
) -> Path:
    """Export a classifier (a Keras model or a :class:`tlkit.TrainingRun`).

    Args:
        model: A classifier from :func:`tlkit.build_classifier` or a TrainingRun.
        path: The ``.tflite`` or ``.onnx`` file, or the SavedModel folder.
        format: ``"savedmodel"`` (TensorFlow Serving; signatures ``serve`` for float32
            pixels and ``serve_uint8``), ``"tflite"``, or ``"onnx"`` (float32 pixels in;
            needs ``pip install "tlkit[deploy]"``).
        quantize: TFLite precision: ``"none"`` (float32), ``"float16"`` weights,
            ``"dynamic"`` range (int8 weights), full ``"int8"`` (uint8 pixels in,
            float32 probabilities out, calibrated on ``representative``), or
            ``"int8-safe"``: int8 but for the layers TensorFlow's quantization debugger
            finds int8 gets wrong on the ``representative`` images, kept in float
            (float32 pixels in; the layers are listed under ``float_layers`` in the JSON).
        class_names: One name per output, for a plain model (a run's export carries the
            run's names; other names or another order are refused).
        representative: Calibration images for int8: an :class:`tlkit.ImageSet` (a
            stratified sample is drawn) or pixels ``(n, h, w, 3)``; default: the run's
            training images.
        calibration_images: How many calibration images at most.
        resize: Resize mode recorded for users of the file (default: the run's, or
            ``"stretch"``).
        overwrite: Replace an earlier export at ``path`` (a ``.tflite`` file, or a
            SavedModel folder holding nothing else); anything else there is refused.
        seed: Seed of the calibration sample.
        flip_tta: Bake the mean of each image and its mirror into the graph (see
            :func:`inference_model`), so the file answers as the run does; default:
            what the run predicts with (``options.tta``), ``False`` for a plain model.
            ``False`` for a run that predicts with the flip: the file runs once per image,
            and its card says "flip average by the predictor" (tlkit's predictors then
            average, so the numbers stay the run's; other runtimes should too).
        check: For a run, measure the file against the run on its ``"validation"``
            (default) or ``"test"`` images (:func:`measure_fidelity`) and record the
            figures under ``fidelity`` in the export's card; ``None`` skips it.
        max_drop: Warn when the check loses more accuracy than this (0.005 = 0.5 pt).

    Returns:
        ``path``.

    Raises:
        ValueError: An unknown format or precision, int8 without representative
            images, or a model that does not convert to builtin TFLite ops.
        RuntimeError: The TFLite converter failed.
        FileExistsError: ``path`` (or the card or labels file beside it) exists and
            ``overwrite`` is false, or is not an earlier export of this format (nothing is
            deleted). A conversion that fails leaves an earlier export as it was.
        FileNotFoundError: The run's training images for int8 calibration are gone.

    Example:
        >>> import tempfile, pathlib, tlkit
        >>> backbone = tlkit.build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> model = tlkit.build_classifier(backbone, tlkit.ClassifierHead(2, hidden_units=()))
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> export_model(model, folder / "m.tflite", quantize="float16",
        ...              class_names=["cat", "dog"]).name
        'm.tflite'
        >>> sorted(p.name for p in folder.iterdir())
        ['m.tflite', 'm.tflite.json', 'm.tflite.labels.txt']
        >>> export_model(model, folder / "m.tflite", quantize="int4")
        Traceback (most recent call last):
        ...
        ValueError: Unknown quantize: expected one of dynamic, float16, int8, int8-safe, none. ...
    """
    check_choice("format", format, EXPORT_FORMATS)
    check_choice("quantize", quantize, QUANTIZATIONS)
    check_bool("overwrite", overwrite)
    calibration_images = check_int("calibration_images", calibration_images, minimum=1)
    if check is not None:  # checked before anything is written
        check_choice("check", check, FIDELITY_SPLITS)
    max_drop = check_number("max_drop", max_drop, low=0.0, high=1.0)
    if format != "tflite" and quantize != "none":
        raise ValueError(f"quantize applies to TFLite only; a {format} export keeps float32 "
                         f"weights. Received: format={format!r}, quantize={quantize!r}.")
    run = model if hasattr(model, "class_names") and hasattr(model, "model") else None
    keras_model = run.model if run is not None else model
    names = [] if class_names is None else check_names("class_names", class_names)
    if run is not None and names and names != list(run.class_names):
        # A run's outputs are its classes in its order: other names would relabel them.
        how = "in another order" if sorted(names) == sorted(run.class_names) else \
            "other names"
        raise ValueError(f"class_names gives {how} than the run's classes "
                         f"{list(run.class_names)[:5]}...: an export of a run carries the "
                         f"run's names in output order. Leave class_names out. "
                         f"Received: class_names={names[:5]}...")
    names = names or (list(run.class_names) if run is not None else [])
    resize = check_choice("resize", resize or (run.options.resize if run is not None
                                               else "stretch"), RESIZE_MODES)
    path = Path(path)
    if path.exists() and not overwrite and not (path.is_dir() and not any(path.iterdir())):
        raise FileExistsError(f"path={str(path)!r} exists; pass overwrite=True (--overwrite) "
                              f"to replace it, or choose another path.")
    if path.exists():
        check_replaceable(path, format)
    if format != "savedmodel":
        check_side_files(path, overwrite=overwrite)
    if flip_tta is None:
        flip_tta = bool(run.options.tta) if run is not None else False
    inference = inference_model(keras_model, flip_tta=check_bool("flip_tta", flip_tta))
    size = tuple(int(s) for s in inference.input_shape[1:3])
    outputs = int(inference.output_shape[-1])
    if names and len(names) != outputs:  # checked before anything is written
        raise ValueError(f"class_names has {len(names)} names but the model has {outputs} "
                         f"outputs. Received: class_names={names[:5]}...")
    calibration = None
    if quantize.startswith("int8"):
        split = getattr(run, "split", None)
        source = representative if representative is not None else (
            split.train if split is not None and len(split.train) else None)
        if source is None:
            raise ValueError(f"quantize={quantize!r} needs representative images to calibrate "
                             f"on: pass representative= (an ImageSet of training images).")
        calibration = _representative(source, size, resize, calibration_images, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = staging_path(path)  # the earlier export stays whole until this one is complete
    try:
        details = _write(inference, staged, format, quantize, calibration)
        replace_with(staged, path)
    finally:
        remove(staged)
    card = _card(run, names or [str(i) for i in range(outputs)], size, resize, format,
                 quantize, flip_tta, keras_model)
    card.details = {**details, "calibration_images": len(calibration) if calibration else 0}
    card.write(path)
    if names:  # per file: two exports into one folder keep their own class names
        labels_path(path).write_text("\n".join(names) + "\n")
    if run is not None and check is not None:  # the file is complete: now measure it
        card.details["fidelity"] = measure_fidelity(run, path, split=check, max_drop=max_drop)
        card.write(path)
    return path


def _write(inference: keras.Model, path: Path, format: str, quantize: str,  # noqa: A002
           calibration: list[np.ndarray] | None) -> dict[str, Any]:
    """Convert ``inference`` to ``path``; the format's facts for the card."""
    if format == "savedmodel":
        _savedmodel(inference, path)
        return {"input": {"dtype": "float32 or uint8 (serve_uint8)"}}
    if format == "onnx":
        from tlkit.onnx_model import write_onnx

        write_onnx(inference, path)
        return {"input": {"dtype": "float32"}}
    float_layers: dict[str, float] | None = None
    if quantize == "int8-safe":
        content, float_layers = int8_safe_tflite(inference, calibration or [])
    else:
        content = _tflite(inference, quantize, calibration)
    _check_builtin(content, quantize)
    path.write_bytes(content)
    details = tflite_io_details(path)
    if float_layers is not None:  # the layers kept in float, with their int8 error
        details["float_layers"] = float_layers
    return details

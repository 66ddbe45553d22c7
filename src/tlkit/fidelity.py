"""Export fidelity: an exported file measured against the model it came from, on held-out images.

A quantized file can change answers (int8 of a label-smoothed MobileNetV2 changed 2.5 %
of Caltech-101 test answers and cost 0.9 pt), and nothing about the file says so. After
:func:`tlkit.export_model` writes a file from a run whose images are known, it runs the
file and the run on the same held-out images (the validation split by default) and
records what changed in the export's JSON: both accuracies, the delta, top-1 agreement,
the largest probability change, size and latency.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tlkit._checks import check_choice, check_int, check_number
from tlkit.data import ImageSet

__all__ = ["measure_fidelity"]

FIDELITY_SPLITS = ("validation", "test")
"""The parts of a run an export can be checked on."""


def _sample(images: ImageSet, count: int) -> ImageSet:
    """Up to ``count`` images spread evenly over the set (which is ordered by class, so
    every class keeps its share)."""
    if len(images) <= count:
        return images
    return images.subset(np.linspace(0, len(images) - 1, num=count).round().astype(int))


def _export_scorer(path: Path, class_names: list[str]) -> Any:
    """A function from pixels to probabilities, columns in ``class_names`` order, for an
    exported file or folder: its own predictor, so the test-time rule of its model card
    applies as it does for a user, and its classes are matched to the run's by name."""
    from tlkit.inference import load_predictor

    predictor = load_predictor(path)
    if sorted(predictor.class_names) != sorted(class_names):
        raise ValueError(f"path={str(path)!r} has classes {predictor.class_names[:5]}..., not "
                         f"the run's {class_names[:5]}...: it was exported from another model.")
    order = [predictor.class_names.index(name) for name in class_names]
    return lambda pixels: predictor.predict_proba(pixels)[:, order]


def _flip_hint(run: Any, path: Path) -> str:
    """The other cause of a drop: the file averages each image with its mirror, the run not."""
    from tlkit.model_card import ModelCard

    card = ModelCard.read(path)
    if card is None or card.test_time_augmentation == "none" or run.options.tta:
        return ""
    return ("; or export without the flip average the run does not use (flip_tta=False): "
            f"the file's card says {card.test_time_augmentation!r}")


def _latency_ms(score: Any, pixels: np.ndarray, repeats: int = 10) -> float:
    """Median milliseconds for one image (after one warm-up call)."""
    one = pixels[:1]
    score(one)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        score(one)
        times.append(time.perf_counter() - start)
    return round(float(np.median(times)) * 1000, 2)


def measure_fidelity(run: Any, path: str | os.PathLike[str], *, split: str = "validation",
                     max_images: int = 300, max_drop: float = 0.005) -> dict[str, Any]:
    """Run an exported file and its run on the same held-out images; what changed.

    Args:
        run: The :class:`tlkit.TrainingRun` the file was exported from (its split gives
            the images; its :meth:`~tlkit.TrainingRun.predict_proba` the reference).
        path: The exported ``.tflite`` or ``.onnx`` file, or SavedModel folder.
        split: ``"validation"`` (the default: images the model was not trained on) or
            ``"test"``.
        max_images: At most this many images, spread evenly over the classes.
        max_drop: An accuracy loss above this (a fraction: 0.005 = 0.5 pt) warns.

    Returns:
        ``{"checked": False, "reason": ...}`` when the images are not available, else
        ``checked``, ``split``, ``images``, ``source_accuracy``, ``export_accuracy``,
        ``accuracy_delta_points``, ``top1_agreement``, ``max_probability_change``,
        ``mean_probability_change``, ``size_mb``, ``latency_ms_per_image``.

    Raises:
        ValueError: An unknown ``split``, or ``max_images``/``max_drop`` out of range.

    Example:
        >>> import keras
        >>> from tlkit import TrainingRun
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> measure_fidelity(TrainingRun(model, ["a", "b"]), "m.tflite")["reason"]
        'the run has no validation images to check the export on'
    """
    check_choice("split", split, FIDELITY_SPLITS)
    max_images = check_int("max_images", max_images, minimum=1)
    max_drop = check_number("max_drop", max_drop, low=0.0, high=1.0)
    parts = getattr(run, "split", None)
    images = None if parts is None else (parts.val if split == "validation" else parts.test)
    if images is None or not len(images):
        return {"checked": False, "reason": f"the run has no {split} images to check the "
                                            f"export on"}
    images = _sample(images, max_images)
    gone = [p for p in images.paths if not os.path.isfile(p)]
    if gone:
        return {"checked": False, "reason": f"{len(gone)} of the run's {split} images are not "
                                            f"there (e.g. {gone[0]!r}): load the run with "
                                            f"TrainingRun.load(directory, data_root=...)"}
    path = Path(path)
    batches = list(images.to_dataset(64, image_size=run.image_size, resize=run.options.resize)
                   .as_numpy_iterator())
    pixels = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    source = run.predict_proba(pixels)
    score = _export_scorer(path, list(run.class_names))
    exported = np.concatenate([score(pixels[i:i + 64]) for i in range(0, len(pixels), 64)])
    source_accuracy = float(np.mean(source.argmax(1) == labels))
    export_accuracy = float(np.mean(exported.argmax(1) == labels))
    change = np.abs(exported - source)
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() \
        else path.stat().st_size
    figures = {
        "checked": True, "split": split, "images": int(len(labels)),
        "source_accuracy": round(source_accuracy, 4),
        "export_accuracy": round(export_accuracy, 4),
        "accuracy_delta_points": round(100 * (export_accuracy - source_accuracy), 2),
        "top1_agreement": round(float(np.mean(exported.argmax(1) == source.argmax(1))), 4),
        "max_probability_change": round(float(change.max()), 4),
        "mean_probability_change": round(float(change.mean()), 5),
        "size_mb": round(size / 1e6, 2),
        "latency_ms_per_image": _latency_ms(score, pixels),
    }
    if source_accuracy - export_accuracy > max_drop:
        warnings.warn(
            f"{path.name} loses {source_accuracy - export_accuracy:.2%} accuracy on "
            f"{len(labels):,} {split} images against the model it came from (top-1 agreement "
            f"{figures['top1_agreement']:.2%}, largest probability change "
            f"{figures['max_probability_change']:.2f}); above max_drop={max_drop:g}. Try a "
            f"precision that keeps more: quantize='int8-safe' (int8 with the layers it gets "
            f"wrong in float), 'float16' or 'dynamic'" + _flip_hint(run, path) + ".",
            stacklevel=2)
    return figures

"""The model card: one JSON that says how a model answers, beside every saved model.

A run folder (:meth:`tlkit.TrainingRun.save`) and every export (:func:`tlkit.export_model`)
write the same card, and every loader (:func:`tlkit.load_predictor`,
:class:`tlkit.TrainingRun`, :class:`tlkit.LiteRTModel`, :class:`tlkit.TensorFlowSavedModel`)
reads it: class names in output order, the input size and resize mode, the test-time
augmentation and where it happens, the calibrated temperature, the precision, the
versions that wrote it, and where the training images were. A folder's card is
``model_card.json`` inside it; a file's card is ``<file>.json`` beside it (so two exports in
one folder keep their own class names).

Test-time augmentation is one rule with three spellings in ``test_time_augmentation``:

* ``"none"``: each image is answered once;
* ``"flip average in the graph"``: the file itself averages each image and its mirror;
* ``"flip average by the predictor"``: the model answers once, and whatever runs it
  (tlkit's predictors do) averages the image and its mirror, so the same model gives the
  same numbers through every door.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tlkit._checks import check_choice, check_image_size, check_names, check_number, type_error
from tlkit._constants import QUANTIZATIONS, RESIZE_MODES

__all__ = ["CARD_FILE", "TEST_TIME_AUGMENTATIONS", "ModelCard", "card_path"]

CARD_FILE = "model_card.json"
"""The card's name inside a folder (a run folder, a SavedModel export)."""

TEST_TIME_AUGMENTATIONS = ("none", "flip average in the graph", "flip average by the predictor")
"""How a model's answers use the mirrored image (see the module docstring)."""

_FORMATS = ("keras", "savedmodel", "tflite", "onnx")
_CARD_VERSION = 1


def card_path(path: str | os.PathLike[str]) -> Path:
    """Where the card of a saved model is: inside a folder, or beside a file.

    Args:
        path: A run folder, a SavedModel folder, or an exported file.

    Example:
        >>> card_path("runs/photos/export/model_int8.tflite").name
        'model_int8.tflite.json'
    """
    path = Path(path)
    return path / CARD_FILE if path.is_dir() else path.with_name(path.name + ".json")


@dataclass
class ModelCard:
    """What a saved model is and how it answers (see the module docstring).

    Args:
        class_names: One name per output, in output order.
        image_size: ``(height, width)`` the model takes.
        format: ``"keras"`` (a run folder), ``"savedmodel"``, ``"tflite"`` or ``"onnx"``.
        resize: How images are brought to ``image_size`` (``"stretch"``, ``"crop"``, ``"pad"``).
        test_time_augmentation: One of :data:`TEST_TIME_AUGMENTATIONS`.
        temperature: The calibrated temperature inside the model (``None``: no
            :class:`tlkit.ClassifierHead`; ``1.0``: uncalibrated).
        quantize: The precision of the weights (``"none"``: float32).
        backbone: The backbone's registry name, if known.
        weights: The weights training started from, if known.
        data_root: The folder that held the training images (absolute), if known.
        split: The file of the run folder listing each image's split (relative to
            ``data_root``), if any.
        source: The run folder an export was made from, if any.
        versions: tlkit, TensorFlow, Keras and Python versions that wrote the model.
        saved: When the card was written (ISO 8601, UTC).
        details: Format-specific facts: input/output types of a file, the int8
            calibration sample, the fidelity check of an export.

    Example:
        >>> card = ModelCard(["cat", "dog"], (224, 224), format="tflite",
        ...                  test_time_augmentation="flip average in the graph")
        >>> card.flip_by_predictor, ModelCard.from_dict(card.to_dict()) == card
        (False, True)
        >>> ModelCard(["cat"], (224, 224), test_time_augmentation="mirror")
        Traceback (most recent call last):
        ...
        ValueError: Unknown test_time_augmentation: expected one of ...
    """

    class_names: list[str]
    image_size: tuple[int, int]
    format: str = "keras"
    resize: str = "stretch"
    test_time_augmentation: str = "none"
    temperature: float | None = None
    quantize: str = "none"
    backbone: str = ""
    weights: str | None = None
    data_root: str | None = None
    split: str | None = None
    source: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    saved: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.class_names = check_names("class_names", self.class_names)
        self.image_size = check_image_size("image_size", self.image_size)
        check_choice("format", self.format, _FORMATS)
        check_choice("resize", self.resize, RESIZE_MODES)
        check_choice("quantize", self.quantize, QUANTIZATIONS)
        check_choice("test_time_augmentation", self.test_time_augmentation,
                     TEST_TIME_AUGMENTATIONS)
        if self.temperature is not None:  # a temperature divides the logits: positive
            self.temperature = check_number("temperature", self.temperature, low=0.0,
                                            low_inclusive=False)
        if not isinstance(self.details, dict):
            raise type_error("details", self.details, "a dict")
        if not self.saved:
            self.saved = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")

    @property
    def flip_by_predictor(self) -> bool:
        """Whether whatever runs the model must average each image and its mirror."""
        return self.test_time_augmentation == "flip average by the predictor"

    def to_dict(self) -> dict[str, Any]:
        """The card as JSON-ready data (``card_version`` first)."""
        data = asdict(self)
        data["image_size"] = list(self.image_size)
        details = data.pop("details")
        return {"card_version": _CARD_VERSION, **data, **details}

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, outputs: int | None = None) -> ModelCard:
        """A card from :meth:`to_dict`'s data, or from the JSON of an export made before
        cards (0.x: the same keys, the flip written as ``"flip average in the graph"`` or
        ``"none"``, no ``card_version``).

        Args:
            data: The card's JSON data.
            outputs: The model's number of outputs, when known: an old card without class
                names then gets ``"0"``, ``"1"``, ... (as a file without a card does).

        Raises:
            ValueError: The data lacks class names or the image size.
        """
        if not isinstance(data, dict):
            raise type_error("data", data, "a dict (a model card's JSON)")
        missing = [k for k in ("class_names", "image_size") if k not in data]
        if missing:
            raise ValueError(f"data is not a model card: it has no {', '.join(missing)}.")
        known = set(cls.__dataclass_fields__) - {"details"}
        fields = {k: v for k, v in data.items() if k in known}
        details = {k: v for k, v in data.items() if k not in known and k != "card_version"}
        fields["image_size"] = tuple(fields["image_size"])
        outputs = outputs or (data.get("output") or {}).get("shape", [0])[-1]
        if not fields["class_names"] and outputs:  # an export made without names (0.x)
            fields["class_names"] = [str(i) for i in range(outputs)]
        return cls(**fields, details=details)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the card for the model at ``path`` (see :func:`card_path`).

        Args:
            path: The saved model: a folder, or a file.

        Returns:
            The card's path.
        """
        target = card_path(path)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return target

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, outputs: int | None = None) -> ModelCard | None:
        """The card of the model at ``path``, or ``None`` when it has none.

        A SavedModel folder exported before cards has ``tlkit.json`` instead; it is read
        the same way.

        Args:
            path: The saved model: a folder, or a file.
            outputs: The model's number of outputs, when known (see :meth:`from_dict`).
        """
        target = card_path(path)
        if not target.is_file() and Path(path).is_dir():
            target = Path(path) / "tlkit.json"
        if not target.is_file():
            return None
        try:
            data = json.loads(target.read_text())
            return cls.from_dict(data, outputs=outputs)
        except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise ValueError(f"{str(target)!r} is not a readable model card of {str(path)!r} "
                             f"({error}); remove it or export the model again.") from None

"""TrainingOptions: every choice of the one-call workflow, with the flagship's measured defaults."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tlkit._checks import (
    check_bool,
    check_choice,
    check_image_size,
    check_int,
    check_number,
    type_error,
    unknown_name_error,
)
from tlkit._constants import QUICK  # defined without TensorFlow
from tlkit.augment import AugmentationPolicy
from tlkit.class_weights import METHODS
from tlkit.data import RESIZE_MODES

if TYPE_CHECKING:
    from tlkit.backbones import BackboneSpec

__all__ = ["QUICK", "TrainingOptions"]

CLASS_WEIGHTS = (*METHODS, "none")


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Everything :func:`tlkit.train` does, as one checked, JSON-serializable object.

    The defaults are the flagship's, chosen on the validation split of Caltech-101 with
    ImageNet MobileNetV2 (see the tutorial): a frozen phase on cached features (30
    epochs), then the top 6 blocks fine-tuned for 2 epochs at ``3e-4`` on a cosine
    schedule (about half the time of every block for 3 epochs: the backward pass stops
    at the lowest trainable block), label smoothing 0.1 in both phases, the result mixed
    0.7 / 0.3 with the weights before fine-tuning (WiSE-FT), and flip test-time
    augmentation.

    Args:
        image_size: ``(height, width)`` the images are resized to, or one int.
        batch_size: Images per fine-tuning step.
        head_epochs: Epochs of the frozen phase, on cached backbone features.
        views: Augmented views per training image in the feature cache (0: clean only).
        feature_size: Image side the frozen phase's cached features (and the near-duplicate
            check) are computed at, from the images at ``image_size`` (``None``: at
            ``image_size``). 160 costs about half of 224; pair it with ``finetune_sizes``
            starting at the same side, so the head first meets full-size images after
            an epoch at the size it was trained on. Aspect as in ``finetune_sizes``. The
            near-duplicate count depends on the size (the test report says which).
        finetune_epochs: Epochs of fine-tuning through the backbone (0: none).
        finetune_sizes: Image side of each of the first fine-tuning epochs (progressive
            resizing: ``(160,)`` runs epoch 0 at 160 x 160, about half the compute of
            224 x 224); the other epochs, the frozen phase, the evaluation and the saved
            model use ``image_size``. For a non-square ``image_size`` the side is its
            longer side's (aspect kept). At least the last epoch stays at full size.
            Each size must be at least the backbone's smallest input (``min_size`` of
            its :class:`tlkit.BackboneSpec`): below it the last stages shrink to
            nothing, and :func:`tlkit.train` refuses it.
        unfreeze: :class:`tlkit.GradualUnfreeze` schedule over the fine-tuning epochs,
            ``{epoch: top_blocks or "all"}``, or the same as text: ``"0:4,1:all"``. A
            count above the backbone's number of blocks (:func:`tlkit.backbone_blocks`)
            means all of them.
        head_lr: Adam's learning rate in the frozen phase.
        finetune_lr: Peak learning rate of fine-tuning (cosine decay to 0).
        warmup_epochs: Epochs (may be fractional) of linear warm-up before the decay.
        wise_alpha: Share of the fine-tuned weights in the final model
            (:class:`tlkit.WeightInterpolation`); 1.0 keeps them as they are.
        label_smoothing: Label smoothing of the cross-entropy in both phases, in
            ``[0, 1)`` (0: none).
        augment: A preset name (``"light"``, ``"standard"``, ``"strong"``), ``"none"``,
            or an :class:`tlkit.AugmentationPolicy` config dict.
        class_weights: ``"balanced"``, ``"inverse_sqrt"``, ``"effective_number"`` or
            ``"none"`` (see :func:`tlkit.compute_class_weights`).
        tta: Average predictions over each image and its mirror (flip test-time
            augmentation) in evaluation and prediction.
        calibrate: Fit one temperature on the validation split after training
            (:func:`tlkit.calibrate`) and store it in the model, so its probabilities
            match how often it is right (label smoothing makes them too low otherwise).
        val_fraction: Share of the training images kept for validation.
        test_fraction: Share of all images kept for the test report (0: none).
        hidden_units: Hidden layers of the :class:`tlkit.ClassifierHead` (``()``: linear).
        dropout: Dropout of the head.
        resize: How images are resized (``"stretch"``, ``"crop"``, ``"pad"``).
        seed: Seed of the split, the augmentation and the initial weights.

    Example:
        >>> options = TrainingOptions(head_epochs=10, unfreeze={0: 4, 1: "all"})
        >>> TrainingOptions.from_json(options.to_json()) == options
        True
        >>> TrainingOptions(finetune_epochs=-1)
        Traceback (most recent call last):
        ...
        ValueError: finetune_epochs must be an int >= 0. Received: finetune_epochs=-1.
    """

    image_size: tuple[int, int] = (224, 224)
    batch_size: int = 32
    head_epochs: int = 30
    views: int = 0
    feature_size: int | None = None
    finetune_epochs: int = 2
    finetune_sizes: tuple[int, ...] = ()
    unfreeze: Mapping[int, int | str] | str = dataclasses.field(
        default_factory=lambda: {0: 6})
    head_lr: float = 1e-3
    finetune_lr: float = 3e-4
    warmup_epochs: float = 0.0
    wise_alpha: float = 0.7
    label_smoothing: float = 0.1
    augment: str | dict[str, Any] = "standard"
    class_weights: str = "balanced"
    tta: bool = True
    calibrate: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    hidden_units: tuple[int, ...] = ()
    dropout: float = 0.2
    resize: str = "stretch"
    seed: int = 0

    def __post_init__(self) -> None:
        fix = object.__setattr__  # a frozen dataclass: store the checked values
        fix(self, "image_size", check_image_size("image_size", self.image_size))
        for name, minimum in (("batch_size", 1), ("head_epochs", 1), ("views", 0),
                              ("finetune_epochs", 0), ("seed", 0)):
            fix(self, name, check_int(name, getattr(self, name), minimum=minimum))
        unfreeze = _parse_schedule(self.unfreeze) if isinstance(self.unfreeze, str) \
            else self.unfreeze
        if not isinstance(unfreeze, Mapping):
            raise type_error("unfreeze", self.unfreeze, "a mapping {epoch: top_blocks or 'all'}")
        schedule = {}
        for epoch, blocks in unfreeze.items():
            epoch = check_int("unfreeze epoch", int(epoch) if isinstance(epoch, str)
                              and epoch.isdigit() else epoch, minimum=0)
            if blocks != "all":
                blocks = check_int(f"unfreeze[{epoch}]", blocks, minimum=0)
            schedule[epoch] = blocks
        fix(self, "unfreeze", dict(sorted(schedule.items())))
        for name in ("head_lr", "finetune_lr"):
            fix(self, name, check_number(name, getattr(self, name), low=0.0, low_inclusive=False))
        fix(self, "warmup_epochs", check_number("warmup_epochs", self.warmup_epochs, low=0.0))
        if self.finetune_epochs and self.warmup_epochs >= self.finetune_epochs:
            raise ValueError(f"warmup_epochs must be below finetune_epochs="
                             f"{self.finetune_epochs}. Received: warmup_epochs={self.warmup_epochs}.")
        fix(self, "wise_alpha", check_number("wise_alpha", self.wise_alpha, low=0.0, high=1.0))
        fix(self, "label_smoothing", check_number("label_smoothing", self.label_smoothing,
                                                  low=0.0, high=1.0, high_inclusive=False))
        if isinstance(self.augment, AugmentationPolicy):
            fix(self, "augment", self.augment.get_config())
        if isinstance(self.augment, dict):
            AugmentationPolicy.from_config(self.augment)  # checks it
        else:
            check_choice("augment", self.augment, (*AugmentationPolicy.presets(), "none"))
        check_choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        check_bool("tta", self.tta)
        check_bool("calibrate", self.calibrate)
        for name in ("val_fraction", "test_fraction"):
            fix(self, name, check_number(name, getattr(self, name), low=0.0, high=1.0,
                                         high_inclusive=False))
        if isinstance(self.hidden_units, (str, bytes)) or not hasattr(self.hidden_units, "__iter__"):
            raise type_error("hidden_units", self.hidden_units, "a sequence of ints")
        fix(self, "hidden_units", tuple(check_int(f"hidden_units[{i}]", u, minimum=1)
                                        for i, u in enumerate(self.hidden_units)))
        if self.feature_size is not None:
            fix(self, "feature_size", check_int("feature_size", self.feature_size, minimum=1))
        if isinstance(self.finetune_sizes, (str, bytes)) \
                or not hasattr(self.finetune_sizes, "__iter__"):
            raise type_error("finetune_sizes", self.finetune_sizes, "a sequence of ints")
        fix(self, "finetune_sizes", tuple(check_int(f"finetune_sizes[{i}]", side, minimum=1)
                                          for i, side in enumerate(self.finetune_sizes)))
        if self.finetune_sizes and len(self.finetune_sizes) >= self.finetune_epochs:
            raise ValueError(f"finetune_sizes must leave the last of finetune_epochs="
                             f"{self.finetune_epochs} at image_size. Received: finetune_sizes="
                             f"{self.finetune_sizes}.")
        fix(self, "dropout", check_number("dropout", self.dropout, low=0.0, high=1.0,
                                          high_inclusive=False))
        check_choice("resize", self.resize, RESIZE_MODES)

    def policy(self) -> AugmentationPolicy | None:
        """The augmentation policy, seeded with :attr:`seed` (``None`` for ``"none"``).

        Example:
            >>> TrainingOptions(augment="light").policy().zoom
            0.1
        """
        if self.augment == "none":
            return None
        if isinstance(self.augment, dict):
            seed = self.augment.get("seed")
            return AugmentationPolicy.from_config(
                {**self.augment, "seed": self.seed if seed is None else seed})
        return AugmentationPolicy.preset(self.augment, seed=self.seed)

    def epoch_sizes(self) -> list[tuple[int, int]]:
        """``(height, width)`` of each fine-tuning epoch in :attr:`finetune_sizes`.

        Example:
            >>> TrainingOptions(image_size=(200, 300), finetune_sizes=(150,)).epoch_sizes()
            [(100, 150)]
        """
        return [self._scaled(side) for side in self.finetune_sizes]

    def feature_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the frozen phase's images (:attr:`feature_size`).

        Example:
            >>> TrainingOptions(image_size=(200, 300), feature_size=150).feature_shape()
            (100, 150)
            >>> TrainingOptions(image_size=96).feature_shape()
            (96, 96)
        """
        return self.image_size if self.feature_size is None else self._scaled(self.feature_size)

    def _scaled(self, side: int) -> tuple[int, int]:
        """``image_size`` with its longer side made ``side`` (aspect kept)."""
        height, width = self.image_size
        longer = max(height, width)
        return round(height * side / longer), round(width * side / longer)

    def replace(self, **changes: Any) -> TrainingOptions:
        """A copy with some options changed (checked again).

        Example:
            >>> TrainingOptions().replace(seed=3).seed
            3
        """
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise unknown_name_error("option", sorted(unknown)[0],
                                     [f.name for f in dataclasses.fields(self)])
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-serializable data (``unfreeze`` keys become strings)."""
        data = dataclasses.asdict(self)
        data["image_size"] = list(self.image_size)
        data["hidden_units"] = list(self.hidden_units)
        data["finetune_sizes"] = list(self.finetune_sizes)
        data["unfreeze"] = {str(epoch): blocks for epoch, blocks in self.unfreeze.items()}
        return data

    def to_json(self) -> str:
        """The options as a JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingOptions:
        """Options from :meth:`to_dict` output; unknown keys are an error naming them.

        Args:
            data: A mapping from :meth:`to_dict` (lists stand for tuples).
        """
        if not isinstance(data, Mapping):
            raise type_error("data", data, "a mapping of option names to values")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise unknown_name_error("option", unknown[0], fields)
        values = dict(data)
        if "image_size" in values and isinstance(values["image_size"], list):
            values["image_size"] = tuple(values["image_size"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TrainingOptions:
        """Options from :meth:`to_json` output.

        Args:
            text: A JSON string from :meth:`to_json`.
        """
        return cls.from_dict(json.loads(text))


def _parse_schedule(text: str) -> dict[int, int | str]:
    """``"0:4,2:all"`` -> ``{0: 4, 2: "all"}`` (the text form of ``unfreeze``)."""
    pairs = [item.split(":") for item in text.split(",")]
    if not all(len(pair) == 2 and pair[0].strip().isdigit() and (
            pair[1].strip() == "all" or pair[1].strip().isdigit()) for pair in pairs):
        raise ValueError(f"unfreeze must be 'epoch:blocks' pairs like '0:4,2:all'. "
                         f"Received: unfreeze={text!r}.")
    return {int(epoch): "all" if blocks.strip() == "all" else int(blocks)
            for epoch, blocks in pairs}



def sizes_checked(spec: BackboneSpec, options: TrainingOptions) -> BackboneSpec:
    """``spec``, once every smaller size ``options`` run its backbone at (``feature_size``,
    ``finetune_sizes``) is at least its ``min_size``. Below it the network's last stages
    shrink to nothing: MobileNetV2 built at 32 px and run at 24 computed garbage, another
    value in every process, instead of failing."""
    for argument, sizes in (("feature_size", [options.feature_shape()]),
                            ("finetune_sizes", options.epoch_sizes())):
        for height, width in sizes:
            if min(height, width) < spec.min_size:
                raise ValueError(
                    f"{argument} must keep at least {spec.min_size} pixels per side for "
                    f"{spec.name!r}. Received: {argument}={getattr(options, argument)!r} "
                    f"(images of {height} x {width}).")
    return spec

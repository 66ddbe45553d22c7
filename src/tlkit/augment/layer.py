"""AugmentationLayer: the Keras layer that runs an augmentation policy (in training only)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from tlkit._checks import type_error
from tlkit.augment.geometry import RandomGeometry
from tlkit.augment.options import VALUE_RANGE, checked_options

__all__ = ["AugmentationLayer"]


@keras.saving.register_keras_serializable(package="tlkit")
class AugmentationLayer(keras.layers.Layer):
    """The Keras layer of an :class:`AugmentationPolicy` (see :meth:`AugmentationPolicy.as_layer`).

    It augments only when called with ``training=True`` (as ``fit()`` does) and is
    the identity otherwise. The output has the shape and dtype of the input
    (integer images are rounded and clipped back to their dtype).

    Args:
        policy: The policy, or its config dict (``AugmentationPolicy.get_config()``).

    Attributes:
        options: The policy's checked options (its config dict).
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Example:
        >>> import numpy as np
        >>> layer = AugmentationLayer({"flip": "horizontal", "seed": 0})
        >>> images = np.arange(2 * 4 * 4 * 3, dtype="uint8").reshape(2, 4, 4, 3)
        >>> out = layer(images, training=True)
        >>> out.shape, out.dtype.name
        (TensorShape([2, 4, 4, 3]), 'uint8')
    """

    def __init__(self, policy: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if hasattr(policy, "get_config") and not isinstance(policy, dict):
            policy = policy.get_config()
        if not isinstance(policy, dict):
            raise type_error("policy", policy, "an AugmentationPolicy or its config dict")
        self.options = checked_options(policy)
        options = self.options
        self.supports_masking = False
        # Keep integer inputs as they are (Keras would cast them to float32).
        self._convert_input_args = False
        seed = options["seed"]

        def next_seed() -> int | None:
            nonlocal seed
            if seed is None:
                return None
            seed += 1
            return seed - 1

        steps: list[keras.layers.Layer] = []
        if options["flip"] or options["rotation"] or options["zoom"] or options["translation"]:
            # One resampling for all four (see tlkit.augment.geometry for why).
            steps.append(RandomGeometry(options["flip"], options["rotation"], options["zoom"],
                                        options["translation"], seed=next_seed(), name="geometry"))
        if options["contrast"]:
            steps.append(keras.layers.RandomContrast(options["contrast"], value_range=VALUE_RANGE,
                                                     seed=next_seed(), name="contrast"))
        if options["brightness"]:
            steps.append(keras.layers.RandomBrightness(options["brightness"], value_range=VALUE_RANGE,
                                                       seed=next_seed(), name="brightness"))
        if options["rand_augment"]:
            steps.append(keras.layers.RandAugment(value_range=VALUE_RANGE,
                                                  num_ops=options["rand_augment"]["num_ops"],
                                                  factor=options["rand_augment"]["factor"],
                                                  seed=next_seed(), name="rand_augment"))
        self.steps = steps

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inputs, (np.ndarray, list, tuple, np.generic)):
            inputs = ops.convert_to_tensor(inputs)  # keeps the dtype (uint8 stays uint8)
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape: Any) -> None:
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"AugmentationLayer expects images (h, w, c) or batches (b, h, w, c), got shape "
                f"{tuple(input_shape)}."
            )
        for step in self.steps:
            step.build(input_shape)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training or not self.steps:
            return inputs
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        x = ops.cast(inputs, "float32")
        for step in self.steps:
            x = step(x, training=True)
        if "int" in dtype:
            x = ops.clip(ops.round(x), VALUE_RANGE[0], VALUE_RANGE[1])
        return ops.cast(x, dtype)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "policy": dict(self.options)}

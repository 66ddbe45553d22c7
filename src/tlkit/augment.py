"""Augmentation policies built on Keras 3 preprocessing layers."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
from keras import ops

from tlkit._checks import unknown_name_error

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["AugmentationLayer", "AugmentationPolicy"]

FLIPS = (None, "horizontal", "vertical", "horizontal_and_vertical")
VALUE_RANGE = (0.0, 255.0)

# name -> (low, high, high inclusive)
_FACTOR_RANGES = {
    "rotation": (0.0, 0.5, True),
    "zoom": (0.0, 1.0, False),
    "translation": (0.0, 1.0, False),
    "contrast": (0.0, 1.0, True),
    "brightness": (0.0, 1.0, True),
}
_RAND_AUGMENT_DEFAULTS = {"num_ops": 2, "factor": 0.5}

_PRESETS: dict[str, dict[str, Any]] = {
    "light": {"flip": "horizontal", "rotation": 0.03, "zoom": 0.1},
    "standard": {"flip": "horizontal", "rotation": 0.1, "zoom": 0.2},
    "strong": {
        "flip": "horizontal",
        "rotation": 0.15,
        "zoom": 0.25,
        "translation": 0.1,
        "contrast": 0.3,
        "brightness": 0.2,
    },
}


def _check_factor(name: str, value: Any) -> float:
    low, high, inclusive = _FACTOR_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}.")
    value = float(value)
    ok = low <= value <= high if inclusive else low <= value < high
    if not ok:
        bracket = f"[{low:g}, {high:g}]" if inclusive else f"[{low:g}, {high:g})"
        raise ValueError(f"{name} must be in {bracket}, got {value!r}.")
    return value


def _check_rand_augment(value: Any) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        return dict(_RAND_AUGMENT_DEFAULTS)
    if not isinstance(value, dict):
        raise TypeError(
            f"rand_augment must be None, True or a dict like {_RAND_AUGMENT_DEFAULTS}, got "
            f"{type(value).__name__} {value!r}."
        )
    unknown = set(value) - set(_RAND_AUGMENT_DEFAULTS)
    if unknown:
        raise ValueError(
            f"rand_augment has unknown keys {sorted(unknown)}; allowed: "
            f"{sorted(_RAND_AUGMENT_DEFAULTS)}."
        )
    merged = {**_RAND_AUGMENT_DEFAULTS, **value}
    num_ops, factor = merged["num_ops"], merged["factor"]
    if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 1:
        raise ValueError(f"rand_augment['num_ops'] must be an int >= 1, got {num_ops!r}.")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor <= 1:
        raise ValueError(f"rand_augment['factor'] must be in (0, 1], got {factor!r}.")
    return {"num_ops": int(num_ops), "factor": float(factor)}


@dataclasses.dataclass(frozen=True)
class AugmentationPolicy:
    """A composable, serializable description of random image augmentations.

    Images are pixels in ``[0, 255]`` (as tlkit's backbones take them). The
    transforms run in this order: flip, rotation, zoom, translation, contrast,
    brightness, RandAugment. A factor of ``0`` turns a transform off.

    Args:
        flip: ``None``, ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
        rotation: Largest rotation as a fraction of a full turn, in ``[0, 0.5]``
            (``0.1`` = up to 36 degrees either way).
        zoom: Largest zoom in or out as a fraction of the size, in ``[0, 1)``.
        translation: Largest shift as a fraction of height and width, in ``[0, 1)``.
        contrast: Contrast factor, in ``[0, 1]``.
        brightness: Largest brightness change as a fraction of the value range, in
            ``[0, 1]``.
        rand_augment: ``None``, ``True`` (defaults) or ``{"num_ops": int, "factor":
            float}`` for Keras' ``RandAugment``.
        seed: Seed for reproducible augmentation (the same seed gives the same images).

    Raises:
        ValueError: A factor outside its range (the message names the factor and the
            range) or an unknown ``flip``.
        TypeError: A factor that is not a number.

    Example:
        >>> policy = AugmentationPolicy.preset("standard", seed=0)
        >>> policy.rotation, policy.flip
        (0.1, 'horizontal')
        >>> combined = policy + AugmentationPolicy(flip=None, contrast=0.2)
        >>> combined.contrast, combined.flip
        (0.2, 'horizontal')
        >>> AugmentationPolicy.from_json(combined.to_json()) == combined
        True
    """

    flip: str | None = "horizontal"
    rotation: float = 0.0
    zoom: float = 0.0
    translation: float = 0.0
    contrast: float = 0.0
    brightness: float = 0.0
    rand_augment: dict[str, Any] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.flip not in FLIPS:
            raise unknown_name_error("flip", self.flip, [str(f) for f in FLIPS])
        for name in _FACTOR_RANGES:
            object.__setattr__(self, name, _check_factor(name, getattr(self, name)))
        object.__setattr__(self, "rand_augment", _check_rand_augment(self.rand_augment))
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(self.seed).__name__}.")

    # Construction -----------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, *, seed: int | None = None) -> AugmentationPolicy:
        """Return a named policy: ``"light"``, ``"standard"`` or ``"strong"``.

        ``"standard"`` is horizontal flip + rotation up to 36 degrees + zoom up to
        20 %; ``"light"`` is milder; ``"strong"`` adds translation, contrast and
        brightness.

        Args:
            name: The preset's name.
            seed: Seed of the returned policy.

        Returns:
            The policy.

        Raises:
            ValueError: Unknown preset (the message lists the presets).

        Example:
            >>> AugmentationPolicy.preset("light").zoom
            0.1
        """
        if name not in _PRESETS:
            raise unknown_name_error("preset", name, _PRESETS)
        return cls(**_PRESETS[name], seed=seed)

    @staticmethod
    def presets() -> list[str]:
        """Names of the presets.

        Example:
            >>> AugmentationPolicy.presets()
            ['light', 'standard', 'strong']
        """
        return list(_PRESETS)

    def combine(self, other: AugmentationPolicy) -> AugmentationPolicy:
        """Combine two policies into one that has the transforms of both.

        Each transform takes the larger of the two strengths; flips are united
        (horizontal + vertical = both); ``rand_augment`` and ``seed`` come from
        ``other`` when it sets them. ``a + b`` is the same as ``a.combine(b)``.

        Args:
            other: Another policy.

        Returns:
            The combined policy.

        Raises:
            TypeError: ``other`` is not an :class:`AugmentationPolicy`.

        Example:
            >>> a = AugmentationPolicy(flip="horizontal", rotation=0.1)
            >>> b = AugmentationPolicy(flip="vertical", rotation=0.05, zoom=0.2)
            >>> c = a.combine(b)
            >>> c.flip, c.rotation, c.zoom
            ('horizontal_and_vertical', 0.1, 0.2)
        """
        if not isinstance(other, AugmentationPolicy):
            raise TypeError(f"can only combine with an AugmentationPolicy, got {type(other).__name__}.")
        axes = set()
        for flip in (self.flip, other.flip):
            if flip:
                axes.update(flip.split("_and_"))
        flip = None
        if axes == {"horizontal", "vertical"}:
            flip = "horizontal_and_vertical"
        elif axes:
            flip = axes.pop()
        factors = {name: max(getattr(self, name), getattr(other, name)) for name in _FACTOR_RANGES}
        return AugmentationPolicy(
            flip=flip,
            **factors,
            rand_augment=other.rand_augment if other.rand_augment else self.rand_augment,
            seed=other.seed if other.seed is not None else self.seed,
        )

    def __add__(self, other: AugmentationPolicy) -> AugmentationPolicy:
        if not isinstance(other, AugmentationPolicy):
            return NotImplemented
        return self.combine(other)

    # Serialization ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Return the policy as a JSON-serializable dict.

        Example:
            >>> AugmentationPolicy(rotation=0.1).get_config()["rotation"]
            0.1
        """
        config = dataclasses.asdict(self)
        if config["rand_augment"] is not None:
            config["rand_augment"] = dict(config["rand_augment"])
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AugmentationPolicy:
        """Build a policy from :meth:`get_config` output.

        Raises:
            ValueError: ``config`` has keys that are not policy fields.

        Example:
            >>> AugmentationPolicy.from_config({"zoom": 0.2}).zoom
            0.2
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - fields
        if unknown:
            raise ValueError(f"Unknown AugmentationPolicy keys {sorted(unknown)}; allowed: {sorted(fields)}.")
        return cls(**config)

    def to_json(self) -> str:
        """Return the policy as a JSON string.

        Example:
            >>> '"zoom": 0.2' in AugmentationPolicy(zoom=0.2).to_json()
            True
        """
        return json.dumps(self.get_config(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AugmentationPolicy:
        """Build a policy from :meth:`to_json` output.

        Example:
            >>> AugmentationPolicy.from_json('{"rotation": 0.2}').rotation
            0.2
        """
        return cls.from_config(json.loads(text))

    # Use --------------------------------------------------------------------------------
    def is_identity(self) -> bool:
        """Whether the policy changes nothing.

        Example:
            >>> AugmentationPolicy(flip=None).is_identity()
            True
        """
        return (
            self.flip is None
            and all(getattr(self, name) == 0.0 for name in _FACTOR_RANGES)
            and not self.rand_augment
        )

    def as_layer(self, *, name: str = "augmentation") -> AugmentationLayer:
        """Return a Keras layer applying the policy (active only in training).

        Use it inside a model (e.g. ``tlkit.build_classifier(..., augmentation=policy)``)
        or in a ``tf.data`` map with ``training=True``.

        Example:
            >>> import numpy as np
            >>> layer = AugmentationPolicy.preset("standard", seed=1).as_layer()
            >>> images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
            >>> bool(np.array_equal(layer(images, training=False), images))
            True
        """
        return AugmentationLayer(self, name=name)

    def preview(
        self,
        images: Any,
        *,
        n: int = 6,
        max_images: int = 4,
    ) -> matplotlib.figure.Figure:
        """Draw a grid: each row one image, its original first, then ``n`` augmented views.

        Args:
            images: A batch ``(b, h, w, 3)`` or one image ``(h, w, 3)``, pixels in
                ``[0, 255]``.
            n: Augmented views per image.
            max_images: Rows at most.

        Returns:
            A matplotlib ``Figure``.

        Raises:
            ValueError: ``images`` does not have 3 or 4 dimensions or ``n`` < 1.

        Example:
            >>> import numpy as np
            >>> figure = AugmentationPolicy.preset("strong", seed=0).preview(
            ...     np.full((2, 32, 32, 3), 128, "uint8"), n=3)
            >>> len(figure.axes)
            8
        """
        import matplotlib.pyplot as plt

        batch = np.asarray(images)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4:
            raise ValueError(f"images must be (h, w, c) or (b, h, w, c), got shape {batch.shape}.")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an int >= 1, got {n!r}.")
        batch = batch[:max_images]
        layer = self.as_layer(name="preview")
        views = [batch] + [
            np.asarray(layer(batch.astype("float32"), training=True)) for _ in range(n)
        ]
        rows, cols = batch.shape[0], n + 1
        figure, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows), squeeze=False)
        for r in range(rows):
            for c in range(cols):
                ax = axes[r][c]
                ax.imshow(np.clip(views[c][r], 0, 255).astype("uint8"))
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title("original" if c == 0 else f"view {c}", fontsize=8)
        figure.suptitle(f"AugmentationPolicy: {self.describe()}", fontsize=9)
        figure.tight_layout()
        return figure

    def describe(self) -> str:
        """A short human-readable summary.

        Example:
            >>> AugmentationPolicy.preset("standard").describe()
            'flip=horizontal, rotation=0.1, zoom=0.2'
        """
        parts = [f"flip={self.flip}"] if self.flip else []
        parts += [f"{name}={getattr(self, name):g}" for name in _FACTOR_RANGES if getattr(self, name)]
        if self.rand_augment:
            parts.append(f"rand_augment={self.rand_augment}")
        return ", ".join(parts) or "identity"


@keras.saving.register_keras_serializable(package="tlkit")
class AugmentationLayer(keras.layers.Layer):
    """The Keras layer of an :class:`AugmentationPolicy` (see :meth:`AugmentationPolicy.as_layer`).

    It augments only when called with ``training=True`` (as ``fit()`` does) and is
    the identity otherwise. The output has the shape and dtype of the input
    (integer images are rounded and clipped back to their dtype).

    Args:
        policy: The policy, or its config dict.
        **kwargs: Passed to :class:`keras.layers.Layer`.

    Example:
        >>> import numpy as np
        >>> layer = AugmentationLayer(AugmentationPolicy(flip="horizontal", seed=0))
        >>> images = np.arange(2 * 4 * 4 * 3, dtype="uint8").reshape(2, 4, 4, 3)
        >>> out = layer(images, training=True)
        >>> out.shape, out.dtype.name
        (TensorShape([2, 4, 4, 3]), 'uint8')
    """

    def __init__(self, policy: AugmentationPolicy | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(policy, dict):
            policy = AugmentationPolicy.from_config(policy)
        if not isinstance(policy, AugmentationPolicy):
            raise TypeError(f"policy must be an AugmentationPolicy, got {type(policy).__name__}.")
        self.policy = policy
        self.supports_masking = False
        # Keep integer inputs as they are (Keras would cast them to float32).
        self._convert_input_args = False
        seed = policy.seed

        def next_seed() -> int | None:
            nonlocal seed
            if seed is None:
                return None
            seed += 1
            return seed - 1

        steps: list[keras.layers.Layer] = []
        if policy.flip:
            steps.append(keras.layers.RandomFlip(policy.flip, seed=next_seed(), name="flip"))
        if policy.rotation:
            steps.append(keras.layers.RandomRotation(policy.rotation, fill_mode="reflect",
                                                     seed=next_seed(), name="rotation"))
        if policy.zoom:
            steps.append(keras.layers.RandomZoom(policy.zoom, fill_mode="reflect",
                                                 seed=next_seed(), name="zoom"))
        if policy.translation:
            steps.append(keras.layers.RandomTranslation(policy.translation, policy.translation,
                                                        fill_mode="reflect", seed=next_seed(),
                                                        name="translation"))
        if policy.contrast:
            steps.append(keras.layers.RandomContrast(policy.contrast, value_range=VALUE_RANGE,
                                                     seed=next_seed(), name="contrast"))
        if policy.brightness:
            steps.append(keras.layers.RandomBrightness(policy.brightness, value_range=VALUE_RANGE,
                                                       seed=next_seed(), name="brightness"))
        if policy.rand_augment:
            steps.append(keras.layers.RandAugment(value_range=VALUE_RANGE,
                                                  num_ops=policy.rand_augment["num_ops"],
                                                  factor=policy.rand_augment["factor"],
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
        return {**super().get_config(), "policy": self.policy.get_config()}

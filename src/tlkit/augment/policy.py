"""AugmentationPolicy: a composable, serializable description of random image augmentations."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tlkit._checks import check_int, type_error, unknown_name_error
from tlkit.augment.layer import AugmentationLayer
from tlkit.augment.options import FACTOR_RANGES, PRESETS, checked_options

if TYPE_CHECKING:
    import matplotlib.figure

__all__ = ["AugmentationPolicy"]

@dataclasses.dataclass(frozen=True)
class AugmentationPolicy:
    """A composable, serializable description of random image augmentations.

    Images are pixels in ``[0, 255]`` (as tlkit's backbones take them). Flip,
    rotation, zoom and translation are drawn per image and applied together as one
    affine map (a single bilinear resampling, edges filled by reflection); then
    contrast, brightness and RandAugment run, in that order. A factor of ``0`` turns a
    transform off.

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
        # One set of checks for the policy and its layer (augment/options.py).
        options = checked_options({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        for name, value in options.items():
            object.__setattr__(self, name, value)

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
        if name not in PRESETS:
            raise unknown_name_error("preset", name, PRESETS)
        return cls(**PRESETS[name], seed=seed)

    @staticmethod
    def presets() -> list[str]:
        """Names of the presets.

        Example:
            >>> AugmentationPolicy.presets()
            ['light', 'standard', 'strong']
        """
        return list(PRESETS)

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
            raise type_error("other", other, "an AugmentationPolicy")
        axes = set()
        for flip in (self.flip, other.flip):
            if flip:
                axes.update(flip.split("_and_"))
        flip = None
        if axes == {"horizontal", "vertical"}:
            flip = "horizontal_and_vertical"
        elif axes:
            flip = axes.pop()
        factors = {name: max(getattr(self, name), getattr(other, name)) for name in FACTOR_RANGES}
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

        Args:
            config: A dict from :meth:`get_config`.

        Raises:
            ValueError: ``config`` has keys that are not policy fields.

        Example:
            >>> AugmentationPolicy.from_config({"zoom": 0.2}).zoom
            0.2
        """
        return cls(**checked_options(config))

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

        Args:
            text: A JSON string from :meth:`to_json`.

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
            and all(getattr(self, name) == 0.0 for name in FACTOR_RANGES)
            and not self.rand_augment
        )

    def as_layer(self, *, name: str = "augmentation") -> AugmentationLayer:
        """Return a Keras layer applying the policy (active only in training).

        Use it inside a model (e.g. ``tlkit.build_classifier(..., augmentation=policy)``)
        or in a ``tf.data`` map with ``training=True``.

        Args:
            name: The Keras layer's name.

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
        labels: Sequence[str] | None = None,
    ) -> matplotlib.figure.Figure:
        """Draw a grid: each row one image, its original first, then ``n`` augmented views.

        The title says what the policy does in words (:meth:`in_words`); fonts stay
        legible when the figure is shown at the width of a documentation page.

        Args:
            images: A batch ``(b, h, w, 3)`` or one image ``(h, w, 3)``, pixels in
                ``[0, 255]``.
            n: Augmented views per image.
            max_images: Rows at most.
            labels: The class of each image, written at the start of its row.

        Returns:
            A matplotlib ``Figure``.

        Raises:
            ValueError: ``images`` does not have 3 or 4 dimensions or ``n`` < 1.

        Example:
            >>> import numpy as np
            >>> figure = AugmentationPolicy.preset("strong", seed=0).preview(
            ...     np.full((2, 32, 32, 3), 128, "uint8"), n=3, labels=["cat", "dog"])
            >>> len(figure.axes), figure.axes[4].get_ylabel()
            (8, 'dog')
        """
        from matplotlib.figure import Figure

        batch = np.asarray(images)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4:
            raise ValueError(f"images must be (h, w, c) or (b, h, w, c), got shape {batch.shape}.")
        n = check_int("n", n, minimum=1)
        max_images = check_int("max_images", max_images, minimum=1)
        batch = batch[:max_images]
        layer = self.as_layer(name="preview")
        views = [batch] + [
            np.asarray(layer(batch.astype("float32"), training=True)) for _ in range(n)
        ]
        rows, cols = batch.shape[0], n + 1
        figure = Figure(figsize=(1.9 * cols, 1.9 * rows + 0.7), layout="constrained")
        axes = figure.subplots(rows, cols, squeeze=False)
        for r in range(rows):
            for c in range(cols):
                ax = axes[r][c]
                ax.imshow(np.clip(views[c][r], 0, 255).astype("uint8"))
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title("original" if c == 0 else f"augmented {c}", fontsize=11)
            if labels is not None and r < len(labels):
                axes[r][0].set_ylabel(str(labels[r]), fontsize=11)
        figure.suptitle(self.in_words(), fontsize=12)
        return figure

    def in_words(self) -> str:
        """What the policy does, in words a reader needs no documentation for.

        Example:
            >>> AugmentationPolicy.preset("standard").in_words()
            'Augmentation: horizontal flip, rotation up to ±36°, zoom ±20 % (reflected fill)'
        """
        parts = [f"{self.flip.replace('_and_', ' and ')} flip"] if self.flip else []
        if self.rotation:
            parts.append(f"rotation up to ±{360 * self.rotation:.0f}°")
        words = {"zoom": "zoom", "translation": "shift", "contrast": "contrast",
                 "brightness": "brightness"}
        parts += [f"{words[name]} ±{100 * getattr(self, name):.0f} %" for name in words
                  if getattr(self, name)]
        if self.rand_augment:
            parts.append("RandAugment")
        fill = " (reflected fill)" if self.rotation or self.zoom or self.translation else ""
        return "Augmentation: " + (", ".join(parts) + fill if parts else "none")

    def describe(self) -> str:
        """A short human-readable summary.

        Example:
            >>> AugmentationPolicy.preset("standard").describe()
            'flip=horizontal, rotation=0.1, zoom=0.2'
        """
        parts = [f"flip={self.flip}"] if self.flip else []
        parts += [f"{name}={getattr(self, name):g}" for name in FACTOR_RANGES if getattr(self, name)]
        if self.rand_augment:
            parts.append(f"rand_augment={self.rand_augment}")
        return ", ".join(parts) or "identity"


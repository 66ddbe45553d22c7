"""Augmentation: a policy (what to do), its Keras layer (doing it), and their options.

Modules: :mod:`~tlkit.augment.policy` (:class:`AugmentationPolicy`),
:mod:`~tlkit.augment.layer` (:class:`AugmentationLayer`),
:mod:`~tlkit.augment.geometry` (flip, rotation, zoom and shift as one affine resampling,
used by the layer) and :mod:`~tlkit.augment.options` (transforms, ranges and presets,
checked in one place).
"""

from tlkit.augment.layer import AugmentationLayer
from tlkit.augment.options import FLIPS, PRESETS
from tlkit.augment.policy import AugmentationPolicy

__all__ = ["FLIPS", "PRESETS", "AugmentationLayer", "AugmentationPolicy"]

"""Data: image folders, image sets and splits, and the ``tf.data`` pipeline.

Modules, one job each: :mod:`~tlkit.data.formats` (formats by content, decode checks),
:mod:`~tlkit.data.imageset` (:class:`ImageSet`, splitting), :mod:`~tlkit.data.split`
(:class:`Split`, its parts matched by class name), :mod:`~tlkit.data.pipeline`
(``tf.data``), :mod:`~tlkit.data.folder` (:class:`ImageFolder` and its scan cache),
:mod:`~tlkit.data.presplit` (pre-split trees: ``train/``, ``val/``, ``test/``).
"""

from tlkit.data.folder import ImageFolder
from tlkit.data.formats import detect_image_format
from tlkit.data.imageset import ImageSet
from tlkit.data.pipeline import RESIZE_MODES
from tlkit.data.split import Split

__all__ = ["RESIZE_MODES", "ImageFolder", "ImageSet", "Split", "detect_image_format"]

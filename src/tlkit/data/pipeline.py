"""The ``tf.data`` pipeline: files to batches of ``float32`` pixels in ``[0, 255]``.

Decode (any format, any channel count, to 3-channel RGB), resize, round to
``uint8`` (so a cached and an uncached pipeline give the same pixels), optionally
cache, shuffle and repeat, batch, cast to ``float32``, augment, prefetch.
:meth:`tlkit.ImageSet.to_dataset` is the public way in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tlkit._checks import check_bool, check_choice, check_image_size, check_int, type_error

RESIZE_MODES = ("stretch", "crop", "pad")


def decode_resized(path: tf.Tensor, height: int, width: int, resize: str) -> tf.Tensor:
    """Decode the image file at ``path`` and resize it to ``uint8 (height, width, 3)``."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape((None, None, 3))
    if resize == "stretch":
        image = tf.image.resize(image, (height, width), antialias=True)
    elif resize == "crop":
        image = _resize_crop(image, height, width)
    else:
        image = tf.image.resize_with_pad(image, height, width, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _resize_crop(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Scale to cover ``(height, width)`` keeping the aspect ratio, then center-crop."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(height / shape[0], width / shape[1])
    new = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, new, antialias=True)
    top = (new[0] - height) // 2
    left = (new[1] - width) // 2
    return image[top:top + height, left:left + width, :]


def as_augment_layer(augment: Any) -> Any:
    """``None``, or the callable layer of an AugmentationPolicy or a Keras layer."""
    if augment is None:
        return None
    layer = augment.as_layer() if hasattr(augment, "as_layer") else augment
    if not callable(layer):
        raise type_error("augment", augment, "None, an AugmentationPolicy or a Keras layer")
    return layer


def make_dataset(
    paths: Sequence[str],
    labels: np.ndarray,
    *,
    batch_size: int,
    image_size: int | tuple[int, int],
    shuffle: bool,
    augment: Any,
    cache: bool | str,
    resize: str,
    seed: int | None,
    repeat: bool,
    drop_remainder: bool,
    with_paths: bool,
) -> tf.data.Dataset:
    """Build the pipeline (arguments as in :meth:`tlkit.ImageSet.to_dataset`)."""
    if len(paths) == 0:
        raise ValueError("to_dataset: this image set is empty; there are no images to load.")
    batch_size = check_int("batch_size", batch_size, minimum=1)
    height, width = check_image_size("image_size", image_size)
    check_choice("resize", resize, RESIZE_MODES)
    for argument, value in (("shuffle", shuffle), ("repeat", repeat),
                            ("drop_remainder", drop_remainder), ("with_paths", with_paths)):
        check_bool(argument, value)
    if not isinstance(cache, (bool, str)):
        raise type_error("cache", cache, "True, False or a file path prefix (str)")
    if seed is not None:
        seed = check_int("seed", seed)
    layer = as_augment_layer(augment)

    ds = tf.data.Dataset.from_tensor_slices(
        (tf.constant(list(paths)), tf.constant(np.asarray(labels).astype(np.int32))))
    ds = ds.map(lambda p, y: (decode_resized(p, height, width, resize), y, p),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)

    def finish(x: tf.Tensor, y: tf.Tensor, p: tf.Tensor) -> tuple[tf.Tensor, ...]:
        x = tf.cast(x, tf.float32)
        if layer is not None:
            x = layer(x, training=True)
        return (x, y, p) if with_paths else (x, y)

    # Random augmentation draws from one generator: batches augmented in parallel would
    # take its numbers in any order, so a seeded policy would not repeat. One at a time.
    ds = ds.map(finish, num_parallel_calls=None if layer is not None else tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)

"""The ``tf.data`` pipeline: files to batches of ``float32`` pixels in ``[0, 255]``.

Decode (any format, any channel count, to 3-channel RGB), resize, round to
``uint8`` (so a cached and an uncached pipeline give the same pixels), or read those
pixels from memory (:func:`decode_all`, once); optionally cache, shuffle and repeat,
batch, cast to ``float32``, resize the first passes smaller (progressive resizing),
augment, prefetch. :meth:`tlkit.ImageSet.to_dataset` and
:meth:`tlkit.ImageSet.in_memory` are the public ways in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tlkit._checks import check_bool, check_choice, check_image_size, check_int, type_error
from tlkit._constants import RESIZE_MODES  # noqa: F401 - public here; defined without TensorFlow
from tlkit._progress import progress_bar


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


def _epoch_order(n: int, seed: int, epoch: tf.Variable) -> tf.data.Dataset:
    """``(index, epoch)`` pairs, indices ``0..n-1`` in an order drawn from ``(seed, epoch)``,
    the epoch read once when a pass starts.

    ``shuffle(reshuffle_each_iteration=True)`` orders pass k by k, so a run resumed at
    epoch 5 would see the order of pass 0; this one sees the order of epoch 5.
    """
    def order(_: tf.Tensor) -> tf.data.Dataset:
        now = tf.cast(epoch.read_value(), tf.int64)
        key = tf.stack([tf.constant(seed, tf.int64), now])
        return tf.data.Dataset.from_tensor_slices((
            tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key),
            tf.fill([n], now)))

    # flat_map hides the length; stating it lets Keras count the steps of an epoch.
    return tf.data.Dataset.from_tensors(0).flat_map(order).apply(
        tf.data.experimental.assert_cardinality(n))


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
    epoch: tf.Variable | None = None,
    pixels: tf.Tensor | None = None,
    epoch_sizes: Sequence[tuple[int, int]] = (),
) -> tf.data.Dataset:
    """Build the pipeline (arguments as in :meth:`tlkit.ImageSet.to_dataset`).

    ``pixels``: the images already decoded at ``image_size`` with ``resize``
    (``uint8 (n, h, w, 3)``, from :func:`decode_all`), read instead of the files.
    """
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
    if pixels is not None:
        cache = False  # already in memory
    if epoch is not None and (not shuffle or cache):
        raise ValueError("epoch orders the shuffle of each pass: it needs shuffle=True and "
                         f"no cache. Received: shuffle={shuffle}, cache={cache!r}.")
    epoch_sizes = [check_image_size(f"epoch_sizes[{i}]", size)
                   for i, size in enumerate(epoch_sizes)]
    if epoch_sizes and epoch is None:
        raise ValueError("epoch_sizes gives the image size of the first passes by their "
                         "epoch: it needs epoch (a tf.Variable). Received: epoch=None.")

    if pixels is not None and tuple(pixels.shape) != (len(paths), height, width, 3):
        raise ValueError(f"pixels must have shape {(len(paths), height, width, 3)} (one "
                         f"decoded image per path). Received: {tuple(pixels.shape)}.")
    all_paths = tf.constant(list(paths))
    all_labels = tf.constant(np.asarray(labels).astype(np.int32))
    if epoch is not None:
        ds = _epoch_order(len(paths), seed or 0, epoch)
    else:
        ds = tf.data.Dataset.range(len(paths))
        if shuffle and not cache:
            # Shuffle indices, then decode: a buffer of decoded images would hold the
            # whole set, and the first batch would wait for every image to decode.
            ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

    def load(i: tf.Tensor, *now: tf.Tensor) -> tuple[tf.Tensor, ...]:
        path = tf.gather(all_paths, i)
        image = tf.gather(pixels, i) if pixels is not None else \
            decode_resized(path, height, width, resize)
        return (image, tf.gather(all_labels, i), path, *now)

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle and epoch is None and cache:  # decoded once, into the cache: shuffle after it
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)

    def finish(x: tf.Tensor, y: tf.Tensor, p: tf.Tensor, *now: tf.Tensor) -> tuple[tf.Tensor, ...]:
        x = tf.cast(x, tf.float32)
        if epoch_sizes:  # progressive resizing: the first passes at their smaller sizes
            x = _resized_for_epoch(x, now[0][0], epoch_sizes)
        if layer is not None:
            x = layer(x, training=True)
        return (x, y, p) if with_paths else (x, y)

    # Random augmentation draws from one generator: batches augmented in parallel would
    # take its numbers in any order, so a seeded policy would not repeat. One at a time.
    ds = ds.map(finish, num_parallel_calls=None if layer is not None else tf.data.AUTOTUNE)
    # No tf.data autotuner: its passes ended on its re-planning ticks (10 ms doubling each
    # time), so one pass took 1x or 2x as long by chance. Measured on 2 cores, Lite0 fine-
    # tuning on 1,600 Caltech images, three epochs: 112.6, 67.5 and 78.1 images/s with it,
    # 112.6, 113.3 and 112.6 without. AUTOTUNE then keeps TensorFlow's starting values.
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def _resized_for_epoch(x: tf.Tensor, now: tf.Tensor, sizes: list[tuple[int, int]]) -> tf.Tensor:
    """The batch ``x`` resized to ``sizes[now]`` in the first passes, as it is after them.

    Its height and width become unknown to the graph, so a model traced on it takes
    every size the passes bring.
    """
    table = tf.constant(sizes, tf.int32)
    last = len(sizes) - 1
    return tf.cond(
        now <= last,
        lambda: tf.image.resize(x, tf.gather(table, tf.minimum(now, last)), antialias=True),
        lambda: x)


def decode_all(paths: Sequence[str], image_size: int | tuple[int, int], resize: str, *,
               verbose: int = 1, desc: str = "Decoding") -> tf.Tensor:
    """Every image at ``paths`` decoded and resized once: ``uint8 (n, h, w, 3)``.

    The pixels are those :func:`make_dataset` would decode (same function), so a
    pipeline reading them gives the same batches as one reading the files.
    """
    height, width = check_image_size("image_size", image_size)
    check_choice("resize", resize, RESIZE_MODES)
    pixels = np.empty((len(paths), height, width, 3), np.uint8)
    options = tf.data.Options()
    options.autotune.enabled = False  # see make_dataset
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(list(paths), tf.string)).map(
        lambda p: decode_resized(p, height, width, resize),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(64).prefetch(2)
    start = 0
    with progress_bar(total=len(paths), desc=desc, unit="img", verbose=verbose) as bar:
        for batch in ds.with_options(options):
            pixels[start:start + len(batch)] = batch.numpy()
            start += len(batch)
            bar.update(len(batch))
    return tf.convert_to_tensor(pixels)

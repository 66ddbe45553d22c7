"""The data phase of :func:`tlkit.train`: which images, split how, read how.

Every part of a split is labelled by the training classes' names (folders number their
classes each in their own way), and a pre-split folder is read as its splits.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import tensorflow as tf

from tlkit._checks import type_error
from tlkit.data import ImageFolder, ImageSet, Split
from tlkit.data.presplit import find_split_folders
from tlkit.workflow.options import TrainingOptions

__all__ = [
    "images_of", "in_memory_parts", "parts_of", "shard_by_data", "source_of", "split_images",
]


def images_of(data: Any, verbose: int) -> ImageSet | Split:
    """The images ``data`` names: a Split for a pre-split tree or a Split given, else a set."""
    if isinstance(data, (ImageSet, Split)):
        return data
    if isinstance(data, (str, os.PathLike)):
        if os.path.isdir(data) and find_split_folders(data) is not None:
            return ImageFolder.from_splits(data, verbose=verbose)
        return ImageFolder(data, verbose=verbose)
    raise type_error("data", data, "a folder path, an ImageSet/ImageFolder or a Split")


def parts_of(images: ImageSet | Split, *, presplit: bool, options: TrainingOptions) -> Split:
    """Train / validation / test, every part labelled by the training classes' names.

    A Split the user built is kept as given (an empty part is skipped). A pre-split
    folder without a val or test folder gets that part from train, as a plain folder
    would; a stratified split of one set follows the options.
    """
    if not isinstance(images, Split):
        return split_images(images, options)
    parts = images.matched()  # folders number their classes each in their own way
    if presplit and not (len(parts.val) and len(parts.test)):
        test_fraction = 0.0 if len(parts.test) else options.test_fraction
        val_fraction = 0.0 if len(parts.val) else options.val_fraction
        trainval, _, test = parts.train.split(val=0.0, test=test_fraction, seed=options.seed)
        train, val, _ = trainval.split(val=val_fraction, test=0.0, seed=options.seed)
        parts = Split(train, parts.val if len(parts.val) else val,
                      parts.test if len(parts.test) else test)
    for part, absent in parts.missing_classes().items():
        part = "validation" if part == "val" else part
        warnings.warn(f"The {part} images have no image of {len(absent)} training "
                      f"class{'es' * (len(absent) != 1)}: {absent[:10]}"
                      f"{' ...' if len(absent) > 10 else ''}; the {part} figures "
                      f"count only the classes present.", stacklevel=3)
    return parts


def shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Under a multi-worker strategy, each worker reads every batch and keeps its share.

    The pipeline reads images from a list of paths, not from files a worker could take
    whole (what the ``FILE`` policy needs), so ``DATA`` is the policy that applies; it is
    set here rather than left to ``AUTO``, which tries ``FILE``, warns and falls back.
    Outside a multi-worker strategy the option does nothing.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def source_of(data: Any) -> str:
    """Where the images came from, in words, for the report."""
    if isinstance(data, (str, os.PathLike)):
        return os.path.abspath(data)
    if isinstance(data, ImageFolder):
        return str(data.root.resolve())
    return f"a {type(data).__name__}"


def split_images(images: ImageSet, options: TrainingOptions) -> Split:
    """Stratified train / validation / test parts as the options ask (test first, so the
    test images do not depend on ``val_fraction``)."""
    trainval, _, test = images.split(val=0.0, test=options.test_fraction, seed=options.seed)
    train, val, _ = trainval.split(val=options.val_fraction, test=0.0, seed=options.seed)
    return Split(train, val, test)


def _free_memory_bytes() -> int | None:
    """Memory the system could give now (Linux ``MemAvailable``), or ``None`` elsewhere."""
    try:
        with open("/proc/meminfo") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def in_memory_parts(parts: Split, options: TrainingOptions, memory_gib: float,
                    verbose: int) -> tuple[Split, str]:
    """Every part decoded once into memory when it fits, and the decision in words.

    A run reads each training image three times (features, two fine-tuning epochs) and
    each validation and test image two or three times; decoding once saves the rest.
    It fits when the decoded pixels (``uint8`` at ``image_size``) take at most
    ``memory_gib`` GiB and at most a third of the memory free now (decoding holds them
    twice for a moment: the decoded array and the tensor made from it).
    """
    height, width = options.image_size
    need = sum(len(part) for part in parts) * height * width * 3
    gib = need / 2**30
    if not memory_gib or gib > memory_gib:
        return parts, (f"read from the files on every pass (decoded they would take "
                       f"{gib:.2f} GiB; memory_gib={memory_gib})")
    free = _free_memory_bytes()
    if free is not None and need > free / 3:
        return parts, (f"read from the files on every pass (decoded they would take "
                       f"{gib:.2f} GiB, more than a third of the {free / 2**30:.1f} GiB free)")
    parts = Split(*(part.in_memory(options.image_size, resize=options.resize, verbose=verbose)
                    if len(part) else part for part in parts))
    return parts, f"decoded once into memory ({gib:.2f} GiB)"

"""ImageSet: image files with labels and class names; stratified and fixed-count splits."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from tlkit._checks import (
    check_fraction,
    check_image_size,
    check_int,
    check_names,
    unknown_name_error,
)
from tlkit.data.pipeline import decode_all, make_dataset
from tlkit.data.split import Split, count_parts, fraction_parts

__all__ = ["ImageSet"]


class ImageSet:
    """A list of image files with integer labels and class names; builds ``tf.data`` pipelines.

    :class:`ImageFolder` is the usual way to get one; splits return ImageSets that
    share the folder's class names.

    Args:
        paths: Image file paths.
        labels: Class index of each path.
        class_names: Name of each class index.

    Raises:
        ValueError: ``paths`` and ``labels`` differ in length, or a label is outside
            ``[0, len(class_names))``.

    Example:
        >>> subset = ImageSet(["a.jpg", "b.jpg"], [0, 1], ["cat", "dog"])
        >>> len(subset), subset.counts.to_dict()
        (2, {'cat': 1, 'dog': 1})
    """

    def __init__(self, paths: Sequence[str], labels: Sequence[int] | np.ndarray,
                 class_names: Sequence[str]) -> None:
        self.paths = [str(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self.class_names = check_names("class_names", class_names)
        # (height, width, resize) -> uint8 pixels of every image, set by in_memory()
        self._pixels: dict[tuple[int, int, str], tf.Tensor] = {}
        if len(self.paths) != len(self.labels):
            raise ValueError(
                f"paths and labels differ in length: {len(self.paths)} and {len(self.labels)}."
            )
        if self.labels.size and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must be in [0, {len(self.class_names) - 1}] for {len(self.class_names)} "
                f"class names, got range [{self.labels.min()}, {self.labels.max()}]."
            )

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} images, {len(self.class_names)} classes)"

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    @property
    def counts(self) -> pd.Series:
        """Images per class, indexed by class name (classes without images count 0)."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return pd.Series(counts, index=pd.Index(self.class_names, name="class"), name="images")

    def in_memory(self, image_size: int | tuple[int, int] = (224, 224), *,
                  resize: str = "stretch", verbose: int = 1) -> ImageSet:
        """A copy of this set with every image decoded once, kept in memory as ``uint8``.

        Its :meth:`to_dataset` pipelines of this ``image_size`` and ``resize`` read the
        memory instead of decoding the files again (other sizes still read the files),
        and give the same batches. It holds ``len(self) * height * width * 3`` bytes:
        about 147 KiB an image at 224 x 224. Sets made from the copy (``subset``,
        ``split``...) read files again.

        Args:
            image_size: ``(height, width)`` or one int for squares.
            resize: ``"stretch"``, ``"crop"`` or ``"pad"`` (as in :meth:`to_dataset`).
            verbose: Show a progress bar while decoding (0: silent).

        Returns:
            The in-memory copy (same paths, labels and class names).

        Raises:
            ValueError: A bad ``image_size`` or ``resize``.

        Example:
            >>> import tempfile, numpy as np
            >>> from PIL import Image
            >>> folder = tempfile.mkdtemp()
            >>> Image.fromarray(np.full((30, 40, 3), 90, "uint8")).save(f"{folder}/a.png")
            >>> images = ImageSet([f"{folder}/a.png"], [0], ["a"]).in_memory(16, verbose=0)
            >>> pixels, _ = next(iter(images.to_dataset(4, image_size=16)))
            >>> pixels.shape, float(pixels[0, 0, 0, 0])
            (TensorShape([1, 16, 16, 3]), 90.0)
        """
        height, width = check_image_size("image_size", image_size)
        copy = ImageSet(self.paths, self.labels, self.class_names)
        copy._pixels = dict(self._pixels)
        copy._pixels[(height, width, resize)] = decode_all(
            self.paths, (height, width), resize, verbose=verbose,
            desc=f"Decoding {len(self):,} images into memory")
        return copy

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """Return the images at ``indices`` (same class names).

        Args:
            indices: Positions of the images to keep, in the order wanted.

        Example:
            >>> ImageSet(["a", "b", "c"], [0, 1, 1], ["x", "y"]).subset([2]).paths
            ['c']
        """
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet([self.paths[i] for i in idx], self.labels[idx], self.class_names)

    def select_classes(self, names: Sequence[str]) -> ImageSet:
        """Keep only the images of ``names``, relabelled ``0 .. len(names) - 1`` in that order.

        Args:
            names: Class names to keep, in the order of their new labels.

        Raises:
            ValueError: A name is not a class of this set, or ``names`` is empty or repeats one.

        Example:
            >>> images = ImageSet(["a", "b", "c"], [0, 1, 2], ["x", "y", "z"])
            >>> picked = images.select_classes(["z", "x"])
            >>> picked.paths, picked.labels.tolist(), picked.class_names
            (['a', 'c'], [1, 0], ['z', 'x'])
        """
        names = check_names("names", names)
        for name in names:
            if name not in self.class_names:
                raise unknown_name_error("class", name, self.class_names)
        mapping = {self.class_names.index(n): i for i, n in enumerate(names)}
        keep = [i for i, y in enumerate(self.labels) if int(y) in mapping]
        return ImageSet([self.paths[i] for i in keep],
                        [mapping[int(self.labels[i])] for i in keep], names)

    def match_classes(self, class_names: Sequence[str], *, part: str = "images") -> ImageSet:
        """The same images labelled by their class *name* in ``class_names``.

        Two folders number their classes each in their own way (sorted names of what
        each holds); matching by name is what makes their labels agree.

        Args:
            class_names: The class names to label by (e.g. the training classes).
            part: What this set is, for the error message (``"val"``, ``"test"``, ...).

        Returns:
            An :class:`ImageSet` with ``class_names`` as its classes; a name of
            ``class_names`` this set has no image of simply has none.

        Raises:
            ValueError: This set has images of a class that ``class_names`` lacks.

        Example:
            >>> images = ImageSet(["x.jpg", "y.jpg"], [0, 1], ["cat", "dog"])
            >>> images.match_classes(["ant", "cat", "dog"]).labels.tolist()
            [1, 2]
        """
        names = check_names("class_names", class_names)
        if names == self.class_names:
            return self
        index = {name: i for i, name in enumerate(names)}
        used = sorted({self.class_names[y] for y in self.labels.tolist()})
        unknown = [name for name in used if name not in index]
        if unknown:
            raise ValueError(
                f"{part} has images of {len(unknown)} class{'es' * (len(unknown) != 1)} the "
                f"training classes lack: {unknown[:10]}; expected only classes of "
                f"{names[:10]}{' ...' if len(names) > 10 else ''} ({len(names)} classes). "
                f"Add those classes to the training images, or leave them out of {part}.")
        labels = [index[self.class_names[y]] for y in self.labels.tolist()]
        return ImageSet(self.paths, labels, names)

    # Splits ------------------------------------------------------------------------------
    def split(
        self,
        *,
        val: float = 0.1,
        test: float = 0.2,
        seed: int = 0,
        stratify: bool = True,
    ) -> Split:
        """Split into train / validation / test, by class (stratified) by default.

        Per class, ``round(test * n)`` images go to test and ``round(val * n)`` to
        validation, at least one each when the fraction is above 0 and the class has
        an image to spare; the rest train. So every class is in every split when it
        has at least 3 images (2 without validation); a smaller class keeps its
        images for train first, then test, and a warning names it and the splits it
        misses. The split
        depends only on ``seed`` and the files, and the parts are disjoint and cover
        the set.

        Args:
            val: Fraction for validation, in ``[0, 1)``.
            test: Fraction for test, in ``[0, 1)``.
            seed: Seed of the shuffle.
            stratify: Split each class separately (else the whole set at once).

        Returns:
            A :class:`Split` ``(train, val, test)``.

        Raises:
            ValueError: A fraction outside ``[0, 1)`` or ``val + test >= 1``.

        Example:
            >>> images = ImageSet([f"{i}.jpg" for i in range(20)], [0] * 10 + [1] * 10, ["a", "b"])
            >>> parts = images.split(val=0.1, test=0.2, seed=0)
            >>> [len(part) for part in parts]
            [14, 2, 4]
        """
        val = check_fraction("val", val)
        test = check_fraction("test", test)
        seed = check_int("seed", seed)
        if val + test >= 1:
            raise ValueError(
                f"val + test must be below 1 so that something is left to train on, got "
                f"val={val} + test={test} = {val + test:g}."
            )
        groups = [np.flatnonzero(self.labels == c) for c in range(self.num_classes)] if stratify \
            else [np.arange(len(self))]
        parts, missed = fraction_parts(groups, val=val, test=test, seed=seed)
        short = [f"{self.class_names[index]!r} ({n} image{'s' * (n != 1)}): "
                 + ", ".join(f"no {name}" for name in names)
                 for index, n, names in missed] if stratify else []
        if short:
            more = f"; and {len(short) - 10} more" if len(short) > 10 else ""
            warnings.warn(
                f"{len(short)} classes have too few images for every split asked for "
                f"(val={val:g}, test={test:g}) and kept them for training first: "
                f"{'; '.join(short[:10])}{more}.",
                stacklevel=2,
            )
        return Split(*(self.subset(np.sort(np.concatenate(parts[k]))) if parts[k]
                       else self.subset([]) for k in ("train", "val", "test")))

    def split_per_class(
        self,
        *,
        train: int = 30,
        test: int | None = 50,
        val: int = 0,
        seed: int = 0,
    ) -> Split:
        """The fixed-count protocol of the Caltech-101 literature: ``train`` images per class.

        Per class: ``train`` random images for training, ``val`` for validation, and
        up to ``test`` of the rest for testing (all the rest with ``test=None``).

        Args:
            train: Training images per class (>= 1).
            test: Test images per class at most, or ``None`` for all the rest.
            val: Validation images per class.
            seed: Seed of the shuffle.

        Returns:
            A :class:`Split` ``(train, val, test)``.

        Raises:
            ValueError: Counts below their minimum, or a class with no more than
                ``train + val`` images (the message names them).

        Example:
            >>> images = ImageSet([f"{i}.jpg" for i in range(12)], [0] * 6 + [1] * 6, ["a", "b"])
            >>> [len(part) for part in images.split_per_class(train=3, test=2)]
            [6, 0, 4]
        """
        train = check_int("train", train, minimum=1)
        val = check_int("val", val, minimum=0)
        test = None if test is None else check_int("test", test, minimum=1)
        seed = check_int("seed", seed)
        counts = self.counts
        small = counts[(counts > 0) & (counts <= train + val)]
        if len(small):
            raise ValueError(
                f"{len(small)} classes have no more than train + val = {train + val} images, so "
                f"none would be left to test: {dict(small.head(10))}."
            )
        parts = count_parts([np.flatnonzero(self.labels == c) for c in range(self.num_classes)],
                            train=train, val=val, test=test, seed=seed)
        return Split(*(self.subset(np.sort(np.concatenate(parts[k]))) for k in ("train", "val", "test")))

    # tf.data -----------------------------------------------------------------------------
    def to_dataset(
        self,
        batch_size: int = 32,
        *,
        image_size: int | tuple[int, int] = (224, 224),
        shuffle: bool = False,
        augment: Any = None,
        cache: bool | str = False,
        resize: str = "stretch",
        seed: int | None = None,
        repeat: bool = False,
        drop_remainder: bool = False,
        with_paths: bool = False,
        epoch: tf.Variable | None = None,
        epoch_sizes: Sequence[int | tuple[int, int]] = (),
    ) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of ``(pixels, label)`` batches.

        Each file is decoded (JPEG, PNG, GIF, BMP, WebP; grayscale, CMYK and RGBA
        become 3-channel RGB, alpha dropped), resized, rounded to ``uint8`` (so a
        cached and an uncached pipeline give the same pixels), then batched as
        ``float32`` pixels in ``[0, 255]`` with ``int32`` labels, and prefetched.

        Resize modes: ``"stretch"`` (default) scales to the size and ignores the
        aspect ratio, so nothing of the image is lost, as Keras'
        ``image_dataset_from_directory`` does; ``"crop"`` keeps the aspect ratio and
        center-crops the overflow; ``"pad"`` keeps the aspect ratio and pads with black.

        Args:
            batch_size: Images per batch.
            image_size: ``(height, width)`` or one int for squares.
            shuffle: Reshuffle every epoch (seeded by ``seed``).
            augment: ``None``, an :class:`tlkit.AugmentationPolicy` or a Keras layer,
                applied to each batch with ``training=True`` after the cache.
            cache: ``False``, ``True`` (in memory, as uint8) or a file path prefix.
                Ignored by an :meth:`in_memory` copy at its size: it is decoded already.
            resize: ``"stretch"``, ``"crop"`` or ``"pad"``.
            seed: Seed of the shuffle.
            repeat: Repeat forever.
            drop_remainder: Drop the last incomplete batch.
            with_paths: Yield ``(pixels, label, path)`` instead.
            epoch_sizes: With ``epoch``: the ``image_size`` of each of the first passes
                (progressive resizing: the batches are resized down after decoding;
                passes after them have ``image_size``). Their height and width are
                then unknown to the graph.
            epoch: With ``shuffle``, an integer ``tf.Variable`` you set to the epoch
                before each pass (e.g. in ``on_epoch_begin``): each pass is then ordered
                by ``(seed, epoch)`` instead of by how many passes came before, so a
                training run resumed at epoch k (``BackupAndRestore``) reads the data in
                the order an uninterrupted one did. No shuffle buffer of decoded images
                is kept either. Not with ``cache``.

        Returns:
            The dataset.

        Raises:
            ValueError: The set is empty, or a bad ``batch_size``, ``image_size`` or
                ``resize``.

        Example:
            >>> import tempfile, numpy as np
            >>> from PIL import Image
            >>> folder = tempfile.mkdtemp()
            >>> Image.fromarray(np.zeros((30, 40), "uint8")).save(f"{folder}/gray.png")
            >>> pixels, labels = next(iter(ImageSet([f"{folder}/gray.png"], [0], ["a"]).to_dataset(
            ...     4, image_size=16)))
            >>> pixels.shape, pixels.dtype.name, labels.numpy().tolist()
            (TensorShape([1, 16, 16, 3]), 'float32', [0])
        """
        height, width = check_image_size("image_size", image_size)
        return make_dataset(
            self.paths, self.labels, batch_size=batch_size, image_size=image_size,
            shuffle=shuffle, augment=augment, cache=cache, resize=resize, seed=seed,
            repeat=repeat, drop_remainder=drop_remainder, with_paths=with_paths, epoch=epoch,
            pixels=self._pixels.get((height, width, resize)), epoch_sizes=epoch_sizes,
        )

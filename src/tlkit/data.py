"""Image folders: scan and validate, stratified splits, fast ``tf.data`` pipelines.

Real folders are messy: Caltech-101 alone has 411 grayscale JPEGs and a JPEG without an
extension. :class:`ImageFolder` finds images by their content, checks every file
decodes with the same decoder the pipeline uses, and lists each file it leaves out
with the reason, so no training run is lost to one bad file and no one has to
wonder which files were used.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import tensorflow as tf
from tqdm.auto import tqdm

from tlkit._checks import unknown_name_error

__all__ = ["ImageFolder", "ImageSet", "Split", "detect_image_format"]

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
RESIZE_MODES = ("stretch", "crop", "pad")
_SCAN_CACHE_VERSION = 1


def detect_image_format(header: bytes) -> str | None:
    """Return ``"jpeg"``, ``"png"``, ``"gif"``, ``"bmp"`` or ``"webp"`` from a file's first bytes.

    Args:
        header: At least the first 12 bytes of the file.

    Returns:
        The format, or ``None`` if the bytes are not one tlkit decodes.

    Example:
        >>> detect_image_format(b"\\x89PNG\\r\\n\\x1a\\n...."), detect_image_format(b"hello")
        ('png', None)
    """
    for magic, name in _MAGIC:
        if header.startswith(magic):
            return name
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "webp"
    return None


def _sniff(path: str) -> tuple[str | None, str | None]:
    """Return ``(format, None)`` for an image file by its first bytes, else ``(None, reason)``."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except OSError as error:
        return None, f"unreadable: {error.strerror or error}"
    if not header:
        return None, "empty file"
    kind = detect_image_format(header)
    return (kind, None) if kind else (None, "not an image (unrecognised content)")


def _check_header(path: str) -> str | None:
    """Return ``None`` if ``path`` starts like an image, else the reason it does not."""
    return _sniff(path)[1]


def _check_file(path: str) -> str | None:
    """Return ``None`` if ``path`` is a decodable image, else the reason it is not."""
    kind, problem = _sniff(path)
    if problem is not None:
        return problem
    try:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.OpError) as error:
        message = str(error.message if hasattr(error, "message") else error).split("\n")[0]
        return f"cannot decode {kind}: {message[:120]}"
    if image.shape[0] == 0 or image.shape[1] == 0:
        return f"{kind} has no pixels"
    return None


class Split(NamedTuple):
    """Train, validation and test subsets (an empty :class:`ImageSet` when not asked for)."""

    train: ImageSet
    val: ImageSet
    test: ImageSet


@dataclass(frozen=True)
class _Resize:
    size: tuple[int, int]
    mode: str


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
        self.class_names = list(class_names)
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

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """Return the images at ``indices`` (same class names).

        Example:
            >>> ImageSet(["a", "b", "c"], [0, 1, 1], ["x", "y"]).subset([2]).paths
            ['c']
        """
        idx = np.asarray(indices, dtype=np.int64)
        return ImageSet([self.paths[i] for i in idx], self.labels[idx], self.class_names)

    def select_classes(self, names: Sequence[str]) -> ImageSet:
        """Keep only the images of ``names``, relabelled ``0 .. len(names) - 1`` in that order.

        Raises:
            ValueError: A name is not a class of this set, or ``names`` is empty or repeats one.

        Example:
            >>> images = ImageSet(["a", "b", "c"], [0, 1, 2], ["x", "y", "z"])
            >>> picked = images.select_classes(["z", "x"])
            >>> picked.paths, picked.labels.tolist(), picked.class_names
            (['a', 'c'], [1, 0], ['z', 'x'])
        """
        names = list(names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"names must be a non-empty list of distinct classes, got {names!r}.")
        for name in names:
            if name not in self.class_names:
                raise unknown_name_error("class", name, self.class_names)
        mapping = {self.class_names.index(n): i for i, n in enumerate(names)}
        keep = [i for i, y in enumerate(self.labels) if int(y) in mapping]
        return ImageSet([self.paths[i] for i in keep],
                        [mapping[int(self.labels[i])] for i in keep], names)

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
        images for train first, then test, and a warning names it. The split
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
        for name, value in (("val", val), ("test", test)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a fraction in [0, 1), got {value!r}.")
        if val + test >= 1:
            raise ValueError(
                f"val + test must be below 1 so that something is left to train on, got "
                f"val={val} + test={test} = {val + test:g}."
            )
        rng = np.random.default_rng(seed)
        groups = [np.flatnonzero(self.labels == c) for c in range(self.num_classes)] if stratify \
            else [np.arange(len(self))]
        parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
        short = []
        for members in groups:
            members = rng.permutation(members)
            n = members.size
            if n == 0:
                continue
            n_test = int(round(test * n))
            n_val = int(round(val * n))
            if test > 0:
                n_test = max(n_test, 1)
            if val > 0:
                n_val = max(n_val, 1)
            # Train keeps at least one image, then test, then validation.
            n_test = min(n_test, n - 1)
            n_val = min(n_val, n - 1 - n_test)
            if (test > 0 and n_test == 0) or (val > 0 and n_val == 0):
                short.append(n)
            parts["test"].append(members[:n_test])
            parts["val"].append(members[n_test:n_test + n_val])
            parts["train"].append(members[n_test + n_val:])
        if short and stratify:
            small = [self.class_names[c] for c, m in enumerate(groups) if 0 < m.size < 3]
            warnings.warn(
                f"{len(short)} classes have too few images to appear in every split and were "
                f"kept for training first: {small[:10]}{'...' if len(small) > 10 else ''}.",
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
        for name, value, low in (("train", train, 1), ("val", val, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
        if test is not None and (isinstance(test, bool) or not isinstance(test, int) or test < 1):
            raise ValueError(f"test must be an int >= 1 or None, got {test!r}.")
        counts = self.counts
        small = counts[(counts > 0) & (counts <= train + val)]
        if len(small):
            raise ValueError(
                f"{len(small)} classes have no more than train + val = {train + val} images, so "
                f"none would be left to test: {dict(small.head(10))}."
            )
        rng = np.random.default_rng(seed)
        parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
        for c in range(self.num_classes):
            members = rng.permutation(np.flatnonzero(self.labels == c))
            parts["train"].append(members[:train])
            parts["val"].append(members[train:train + val])
            rest = members[train + val:]
            parts["test"].append(rest if test is None else rest[:test])
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
            resize: ``"stretch"``, ``"crop"`` or ``"pad"``.
            seed: Seed of the shuffle.
            repeat: Repeat forever.
            drop_remainder: Drop the last incomplete batch.
            with_paths: Yield ``(pixels, label, path)`` instead.

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
        if len(self) == 0:
            raise ValueError("to_dataset: this image set is empty.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}.")
        if isinstance(image_size, int):
            image_size = (image_size, image_size)
        if (not isinstance(image_size, Sequence) or len(image_size) != 2
                or not all(isinstance(s, int) and s > 0 for s in image_size)):
            raise ValueError(f"image_size must be an int or (height, width) > 0, got {image_size!r}.")
        if resize not in RESIZE_MODES:
            raise unknown_name_error("resize", resize, RESIZE_MODES)
        height, width = int(image_size[0]), int(image_size[1])

        def load(path: tf.Tensor) -> tf.Tensor:
            image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
            image.set_shape((None, None, 3))
            if resize == "stretch":
                image = tf.image.resize(image, (height, width), antialias=True)
            elif resize == "crop":
                image = _resize_crop(image, height, width)
            else:
                image = tf.image.resize_with_pad(image, height, width, antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)

        paths = tf.constant(self.paths)
        labels = tf.constant(self.labels.astype(np.int32))
        ds = tf.data.Dataset.from_tensor_slices((paths, labels))
        ds = ds.map(lambda p, y: (load(p), y, p), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
        if cache:
            ds = ds.cache("" if cache is True else str(cache))
        if shuffle:
            ds = ds.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
        ds = ds.batch(batch_size, drop_remainder=drop_remainder,
                      num_parallel_calls=tf.data.AUTOTUNE)
        layer = None
        if augment is not None:
            layer = augment.as_layer() if hasattr(augment, "as_layer") else augment
            if not callable(layer):
                raise TypeError(f"augment must be a policy or a Keras layer, got {type(augment).__name__}.")

        def finish(x: tf.Tensor, y: tf.Tensor, p: tf.Tensor) -> tuple[tf.Tensor, ...]:
            x = tf.cast(x, tf.float32)
            if layer is not None:
                x = layer(x, training=True)
            return (x, y, p) if with_paths else (x, y)

        ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)


def _resize_crop(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(height / shape[0], width / shape[1])
    new = tf.cast(tf.math.ceil(shape * scale), tf.int32)
    image = tf.image.resize(image, new, antialias=True)
    top = (new[0] - height) // 2
    left = (new[1] - width) // 2
    return image[top:top + height, left:left + width, :]


def _scan_cache_file(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]  # noqa: S324
    return cache_dir / "scans" / f"{key}.json"


class ImageFolder(ImageSet):
    """Images in one sub-folder per class, found by content and checked to decode.

    Every regular file under a class folder (sub-folders included, so a nested
    folder belongs to its class) is considered; its type is read from its first
    bytes, not its extension, so an image without an extension is found and a text
    file named ``.jpg`` is not. Each candidate is decoded once with TensorFlow (the
    decoder :meth:`to_dataset` uses), in parallel with a progress bar for large
    folders. Results are cached by path, size and modification time, so a second
    scan of an unchanged folder only lists it. Files left out are in ``skipped``
    with their reason; ``strict=True`` raises instead.

    Class folders are sorted by name; their index is the label. Hidden files and
    folders (starting with ``.``) are ignored.

    Args:
        root: The folder holding one sub-folder per class.
        exclude: Class folders to leave out (e.g. ``("BACKGROUND_Google",)``).
        strict: Raise on the first bad file instead of skipping it.
        verify: Decode every file (the default); ``False`` only checks the header.
        workers: Threads for the decode check (default: the CPU count).
        cache_dir: Where scan results are cached (default ``$TLKIT_CACHE_DIR`` or
            ``~/.cache/tlkit``); ``None`` uses the default, ``False`` disables.
        progress: Show a progress bar (default: when more than 500 files are checked).

    Attributes:
        root: The folder.
        paths: Paths of the images kept, sorted by class then name.
        labels: Class index of each path.
        class_names: Class folder names.
        skipped: A DataFrame of files left out, with columns ``path`` and ``reason``.
        excluded: Class folders left out by ``exclude``.

    Raises:
        FileNotFoundError: ``root`` does not exist or is not a folder.
        ValueError: ``root`` has no class folders, ``exclude`` names an unknown class,
            a class has no usable image, or (``strict``) a file is bad.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("cat", "dog"):
        ...     (root / name).mkdir()
        ...     Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(root / name / "1.jpg")
        >>> _ = (root / "dog" / "notes.jpg").write_text("not an image")
        >>> folder = ImageFolder(root, cache_dir=False)
        >>> folder.class_names, len(folder), folder.skipped["reason"].tolist()
        (['cat', 'dog'], 2, ['not an image (unrecognised content)'])
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        exclude: Iterable[str] = (),
        strict: bool = False,
        verify: bool = True,
        workers: int | None = None,
        cache_dir: str | os.PathLike[str] | None | bool = None,
        progress: bool | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"root={str(self.root)!r} does not exist or is not a folder; expected a folder "
                f"with one sub-folder of images per class."
            )
        if isinstance(exclude, str):
            exclude = (exclude,)
        exclude = list(exclude)
        folders = sorted(p.name for p in self.root.iterdir()
                         if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise ValueError(
                f"root={str(self.root)!r} has no class folders; expected one sub-folder of "
                f"images per class."
            )
        unknown = [name for name in exclude if name not in folders]
        if unknown:
            raise unknown_name_error(f"class in exclude ({unknown[0]!r} is not a folder of "
                                     f"{str(self.root)!r})", unknown[0], folders)
        self.excluded = [name for name in folders if name in exclude]
        class_names = [name for name in folders if name not in exclude]
        if not class_names:
            raise ValueError(f"exclude={exclude} leaves no class folders in {str(self.root)!r}.")

        candidates: list[tuple[str, int]] = []
        for label, name in enumerate(class_names):
            for dirpath, dirnames, filenames in os.walk(self.root / name):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for filename in sorted(filenames):
                    if not filename.startswith("."):
                        candidates.append((os.path.join(dirpath, filename), label))

        results = self._check_all([p for p, _ in candidates], verify=verify, workers=workers,
                                  cache_dir=cache_dir, progress=progress)
        kept_paths, kept_labels, skipped = [], [], []
        for (path, label), reason in zip(candidates, results):
            if reason is None:
                kept_paths.append(path)
                kept_labels.append(label)
            else:
                if strict:
                    raise ValueError(f"Bad image file {path!r}: {reason} (strict=True).")
                skipped.append({"path": path, "reason": reason})
        self.skipped = pd.DataFrame(skipped, columns=["path", "reason"])
        super().__init__(kept_paths, kept_labels, class_names)
        empty = [name for name, count in self.counts.items() if count == 0]
        if empty:
            raise ValueError(
                f"{len(empty)} class folders have no usable image: {empty[:10]}. Add images, or "
                f"pass exclude={empty[:10]!r}. Skipped files: {len(self.skipped)}."
            )

    def _check_all(self, paths: list[str], *, verify: bool, workers: int | None,
                   cache_dir: Any, progress: bool | None) -> list[str | None]:
        cache_path = None
        cached: dict[str, list[Any]] = {}
        if cache_dir is not False and verify:
            from tlkit.datasets.caltech101 import _default_cache_dir

            base = Path(cache_dir) if cache_dir not in (None, True) else _default_cache_dir()
            cache_path = _scan_cache_file(self.root, base)
            try:
                data = json.loads(cache_path.read_text())
                if data.get("version") == _SCAN_CACHE_VERSION:
                    cached = data["files"]
            except (OSError, ValueError, KeyError):
                cached = {}
        stats: dict[str, tuple[int, int]] = {}
        results: list[str | None] = [None] * len(paths)
        todo = []
        for i, path in enumerate(paths):
            try:
                st = os.stat(path)
                stats[path] = (st.st_size, st.st_mtime_ns)
            except OSError as error:
                results[i] = f"unreadable: {error.strerror or error}"
                continue
            entry = cached.get(path)
            if entry is not None and tuple(entry[:2]) == stats[path]:
                results[i] = entry[2]
            else:
                todo.append(i)
        if todo:
            check = _check_file if verify else _check_header
            show = progress if progress is not None else len(todo) > 500
            with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
                iterator = pool.map(check, [paths[i] for i in todo])
                for i, reason in zip(todo, tqdm(iterator, total=len(todo), disable=not show,
                                                desc=f"Checking images in {self.root.name}",
                                                unit="file")):
                    results[i] = reason
        if cache_path is not None and todo:
            files = {p: [*stats[p], results[i]] for i, p in enumerate(paths) if p in stats}
            try:
                cache_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"version": _SCAN_CACHE_VERSION, "files": files}))
                tmp.replace(cache_path)
            except OSError:
                pass  # a read-only cache only costs speed
        return results

    def summary(self) -> str:
        """A few lines on what was found and skipped.

        Example:
            >>> import tempfile, pathlib, numpy as np
            >>> from PIL import Image
            >>> root = pathlib.Path(tempfile.mkdtemp())
            >>> for name in ("a", "b"):
            ...     (root / name).mkdir()
            ...     Image.fromarray(np.zeros((8, 8), "uint8")).save(root / name / "x.png")
            >>> _ = (root / "b" / "empty.jpg").write_bytes(b"")
            >>> print(ImageFolder(root, cache_dir=False).summary().split(": ", 1)[1])
            2 images in 2 classes (1 to 1 per class)
              skipped 1 files:
                ... empty file
        """
        counts = self.counts
        lines = [f"ImageFolder {str(self.root)!r}: {len(self)} images in {self.num_classes} classes "
                 f"({counts.min()} to {counts.max()} per class)"]
        if self.excluded:
            lines.append(f"  excluded classes: {', '.join(self.excluded)}")
        if len(self.skipped):
            lines.append(f"  skipped {len(self.skipped)} files:")
            for row in self.skipped.head(10).itertuples():
                lines.append(f"    {row.path}: {row.reason}")
        return "\n".join(lines)


"""audit(): a labelled folder in, a :class:`DataAudit` out. Features once, then
everything else on them: out-of-fold probabilities, label issues, duplicates, outliers
and class overlap."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from tlkit._checks import check_int, check_number, type_error
from tlkit.auditing.duplicates import DUPLICATE_THRESHOLD, duplicate_pairs, file_hashes
from tlkit.auditing.findings import (
    OUTLIER_THRESHOLD,
    class_overlap,
    label_issues,
    outliers,
    typicality,
)
from tlkit.auditing.probabilities import out_of_fold_probabilities
from tlkit.auditing.result import DataAudit
from tlkit.data import ImageFolder, ImageSet, Split

__all__ = ["audit"]


def _images(data: Any, exclude: Iterable[str], verbose: int) -> tuple[ImageSet, list[str] | None]:
    """The images to audit, and each one's part (``train``, ``val``, ``test``) for a Split."""
    if isinstance(data, (str, os.PathLike)):
        from tlkit.data.folder import find_split_folders

        if not os.path.isdir(data):
            raise FileNotFoundError(f"data={str(data)!r} does not exist or is not a folder; "
                                    f"expected a folder with one sub-folder of images per class.")
        if find_split_folders(data) is not None:
            data = ImageFolder.from_splits(data, exclude=exclude, verbose=verbose)
        else:
            return ImageFolder(data, exclude=exclude, verbose=verbose), None
    if isinstance(data, Split):
        parts = data.matched()
        names = ("train", "val", "test")
        images = ImageSet([p for part in parts for p in part.paths],
                          np.concatenate([part.labels for part in parts]),
                          parts.train.class_names)
        return images, [name for name, part in zip(names, parts) for _ in part.paths]
    if isinstance(data, ImageSet):
        return data, None
    raise type_error("data", data, "a folder path, a tlkit ImageSet (or ImageFolder) or a Split")


def audit(
    data: str | os.PathLike[str] | ImageSet | Split,
    *,
    backbone: str = "mobilenet_v2",
    weights: str | os.PathLike[str] | None = "imagenet",
    image_size: int | tuple[int, int] = 224,
    folds: int = 5,
    seed: int = 0,
    duplicate_threshold: float = DUPLICATE_THRESHOLD,
    outlier_threshold: float = OUTLIER_THRESHOLD,
    exclude: Iterable[str] = (),
    batch_size: int = 64,
    features: np.ndarray | None = None,
    verbose: int = 1,
) -> DataAudit:
    """Audit labelled images: suspect labels, duplicates, outliers and overlapping classes.

    The backbone's features are computed once per image; a logistic regression fitted
    ``folds`` times on them gives every image class probabilities from a model that never
    saw its label (out of fold); cleanlab's confident learning ranks the labels on those;
    duplicates, outliers and class overlap come from the same features and probabilities.
    Nothing in the folder is moved or changed: the audit only reads and reports
    (:meth:`DataAudit.save` writes the CSV tables and a page).

    Args:
        data: A folder with one sub-folder per class (or ``train/``, ``val/``, ``test/``
            folders of them), an :class:`tlkit.ImageSet` / :class:`tlkit.ImageFolder`, or a
            :class:`tlkit.Split` (its parts are audited together, and duplicate pairs
            across parts are tagged).
        backbone: A name of :func:`tlkit.list_backbones`.
        weights: ``"imagenet"``, a weights file, or ``None`` (random: for tests only).
        image_size: Pixels per side the images are resized to for the backbone.
        folds: Parts of the out-of-fold split (>= 2).
        seed: Seed of the fold split (everything else is deterministic).
        duplicate_threshold: Cosine similarity of features from which two images are near
            duplicates (calibrated for MobileNetV2; see the audit guide).
        outlier_threshold: Robust standard deviations below the median closeness to the
            nearest class from which an image is an outlier (3.5, calibrated for
            MobileNetV2 on Caltech-101; lower finds more junk and more odd but rightly
            labelled images).
        exclude: Class folders to leave out when ``data`` is a folder.
        batch_size: Images per batch of the feature extraction.
        features: The images' backbone features, one row per image in the order audited
            (e.g. :attr:`DataAudit.features` of an earlier audit of the same files): the
            extraction is skipped, and ``backbone``, ``weights`` and ``image_size`` only
            describe where they came from. Labels may differ from that audit's.
        verbose: 0 silent, 1 progress bars.

    Returns:
        A :class:`tlkit.DataAudit`.

    Raises:
        TypeError: ``data`` is of none of the types above.
        ValueError: Fewer than 2 classes with images, ``features`` not one row per
            image, or a bad ``folds``, ``duplicate_threshold``, ``outlier_threshold``,
            ``backbone`` or ``image_size``.
        FileNotFoundError: ``data`` is a path that is not a folder.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> rng = np.random.default_rng(0)
        >>> for name, colour in (("red", 0), ("blue", 2)):
        ...     (root / name).mkdir()
        ...     for i in range(6):
        ...         pixels = rng.integers(0, 60, (32, 32, 3), dtype="uint8")
        ...         pixels[..., colour] = 230
        ...         Image.fromarray(pixels).save(root / name / f"{i}.png")
        >>> import shutil; shutil.copy(root / "red" / "0.png", root / "blue" / "copy.png")
        PosixPath(...)
        >>> found = audit(root, weights=None, image_size=32, folds=3, verbose=0)
        >>> found.duplicates[["kind", "classes"]].values.tolist()[:1]
        [['exact', 'different']]
        >>> found.label_issues.columns.tolist()[:4]
        ['path', 'given', 'suggested', 'score']
    """
    folds = check_int("folds", folds, minimum=2)
    seed = check_int("seed", seed)
    verbose = check_int("verbose", verbose, minimum=0)
    duplicate_threshold = check_number("duplicate_threshold", duplicate_threshold, low=0.0,
                                       high=1.0, low_inclusive=False)
    outlier_threshold = check_number("outlier_threshold", outlier_threshold, low=0.0,
                                     low_inclusive=False)
    from tlkit.backbones import build_backbone
    from tlkit.features import extract_features

    start = time.perf_counter()
    images, parts = _images(data, exclude, verbose)
    present = np.unique(images.labels)
    if len(present) < 2:
        raise ValueError(f"data must have images of at least 2 classes to audit their labels. "
                         f"Received: data with {len(images)} images of {len(present)} class.")
    scanned = time.perf_counter()
    given = features is not None
    if features is None:
        model = build_backbone(backbone, image_size=image_size, weights=weights)
        features, _ = extract_features(model, images, batch_size=batch_size, verbose=verbose)
    else:
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2 or len(features) != len(images):
            raise ValueError(f"features must have one row per image, ({len(images)}, channels). "
                             f"Received: features of shape {features.shape}.")
    extracted = time.perf_counter()
    labels, names = images.labels, images.class_names
    probabilities = out_of_fold_probabilities(features, labels, num_classes=len(names),
                                              folds=folds, seed=seed, verbose=verbose)
    fitted = time.perf_counter()
    similarity, nearest = typicality(features, labels, len(names))
    issues = label_issues(probabilities, labels, names, images.paths, similarity)
    if parts is not None:
        issues["split"] = issues["path"].map(dict(zip(images.paths, parts)))
    pairs = duplicate_pairs(features, file_hashes(images.paths), labels, names, images.paths,
                            parts=parts, threshold=duplicate_threshold)
    far = outliers(similarity, nearest, labels, names, images.paths,
                   threshold=outlier_threshold)
    overlap = class_overlap(probabilities, labels, names, pairs)
    done = time.perf_counter()
    settings = {"data": str(getattr(images, "root", data if isinstance(data, (str, os.PathLike))
                                    else type(data).__name__)),
                "classes": len(names), "backbone": backbone,
                "weights": None if weights is None else str(weights),
                "image_size": image_size if isinstance(image_size, int) else list(image_size),
                "features": "given" if given else "extracted", "folds": folds, "seed": seed,
                "duplicate_threshold": duplicate_threshold,
                "outlier_threshold": outlier_threshold,
                "probabilities": f"{folds}-fold logistic regression on standardised features",
                "label_issues": "cleanlab self_confidence ranking; num_label_issues flagged"}
    seconds = {"scan": scanned - start, "extraction": extracted - scanned,
               "out_of_fold": fitted - extracted, "findings": done - fitted,
               "the_rest": done - extracted, "total": done - start}
    return DataAudit(issues, pairs, far, overlap, settings, seconds, features, images.paths)

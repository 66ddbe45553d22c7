"""Choose a backbone before training: rank candidates by the transferability of their
frozen features on a sample of your images (:func:`rank_backbones`)."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tlkit._checks import check_choice, check_image_size, check_int, type_error
from tlkit.backbones import build_backbone, get_backbone_spec
from tlkit.data import ImageFolder, ImageSet
from tlkit.features import extract_features
from tlkit.transferability import knn_accuracy, logme_score

__all__ = ["DEFAULT_CANDIDATES", "RANKING_SCORES", "BackboneRanking", "rank_backbones"]

DEFAULT_CANDIDATES = ("mobilenet_v2", "efficientnet_lite0", "efficientnet_lite1",
                      "efficientnet_lite2")
"""The mobile backbones :func:`rank_backbones` compares when given no ``candidates``."""
RANKING_SCORES = ("logme", "knn_accuracy")
"""The scores a :class:`BackboneRanking` can order by."""


@dataclass
class BackboneRanking:
    """Transferability scores of candidate backbones on one sample of images.

    Attributes:
        table: One row per backbone, best first (by ``by``): ``logme``,
            ``knn_accuracy``, ``image_size``, ``feature_seconds`` (build and feature
            extraction), ``logme_seconds``, ``knn_seconds``.
        images: Images in the sample.
        num_classes: Classes in the sample.
        by: The score the table is ordered by (one of :data:`RANKING_SCORES`).
        seconds: Wall time of the whole ranking.
        paths: The sampled image files (the same for every backbone).

    Example:
        >>> import pandas as pd
        >>> table = pd.DataFrame({"logme": [0.5, 0.9], "knn_accuracy": [0.8, 0.7]},
        ...                      index=pd.Index(["a", "b"], name="backbone"))
        >>> ranking = BackboneRanking(table, images=40, num_classes=2)
        >>> ranking.order, ranking.order_by("knn_accuracy")
        (['b', 'a'], ['a', 'b'])
    """

    table: pd.DataFrame
    images: int
    num_classes: int
    by: str = "logme"
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        check_choice("by", self.by, RANKING_SCORES)
        self.table = self.table.sort_values(self.by, ascending=False, kind="stable")

    @property
    def order(self) -> list[str]:
        """Backbone names, the most promising first (by :attr:`by`)."""
        return list(self.table.index)

    def order_by(self, score: str) -> list[str]:
        """Backbone names ordered by another score, best first.

        Args:
            score: One of :data:`RANKING_SCORES`.
        """
        check_choice("score", score, RANKING_SCORES)
        return list(self.table.sort_values(score, ascending=False, kind="stable").index)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: scores per backbone, both orders, times."""
        return {"images": self.images, "num_classes": self.num_classes, "by": self.by,
                "order": self.order, "order_by_knn_accuracy": self.order_by("knn_accuracy"),
                "order_by_logme": self.order_by("logme"),
                "seconds": round(self.seconds, 2),
                "backbones": {name: {k: (round(float(v), 6) if isinstance(v, float) else
                                         int(v)) for k, v in row.items()}
                              for name, row in self.table.iterrows()}}

    def __str__(self) -> str:
        shown = self.table.copy()
        shown["logme"] = shown["logme"].map("{:.4f}".format)
        shown["knn_accuracy"] = shown["knn_accuracy"].map("{:.2%}".format)
        return (f"Backbones ranked by {self.by} on {self.images:,} images of "
                f"{self.num_classes} classes ({self.seconds:.1f} s):\n{shown.to_string()}")


def _sample(images: ImageSet, size: int, seed: int) -> ImageSet:
    """At most ``size`` images, every class in proportion and with at least 2 (when it has)."""
    if len(images) <= size:
        return images
    rng = np.random.default_rng(seed)
    counts = np.bincount(images.labels, minlength=images.num_classes)
    quota = np.minimum(counts, np.maximum(2, np.floor(counts * size / len(images)))).astype(int)
    keep = [rng.permutation(np.flatnonzero(images.labels == c))[:q] for c, q in enumerate(quota)]
    return images.subset(np.sort(np.concatenate(keep)))


def _weights_of(weights: Any, name: str) -> Any:
    if isinstance(weights, Mapping):
        return weights.get(name, "imagenet")
    return weights


def rank_backbones(
    data: str | os.PathLike[str] | ImageSet,
    candidates: Sequence[str] | None = None,
    *,
    sample: int = 1000,
    weights: str | os.PathLike[str] | None | Mapping[str, Any] = "imagenet",
    image_size: int | tuple[int, int] | None = None,
    by: str = "logme",
    k: int = 5,
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 1,
) -> BackboneRanking:
    """Rank backbones for your images before training any: features of a sample, scored.

    Each candidate is built frozen, runs once over a stratified sample of the images
    (pooled features), and its features are scored with :func:`~tlkit.transferability.
    logme_score` (LogME) and :func:`~tlkit.transferability.knn_accuracy` (leave-one-out
    k-NN). Both are computed; ``by`` chooses the order. What it costs is the feature
    pass of the sample per backbone; the scores take well under a second each.

    Args:
        data: A folder with one sub-folder of images per class, or an
            :class:`tlkit.ImageSet` (an :class:`tlkit.ImageFolder`).
        candidates: Backbone names (:func:`tlkit.list_backbones`); ``None`` for
            :data:`DEFAULT_CANDIDATES`.
        sample: Images scored at most (per class in proportion, at least 2 per class).
        weights: ``"imagenet"``, ``None``, a weights file, or a mapping from backbone name
            to one of those (names not in it take ``"imagenet"``).
        image_size: Pixels per side for every candidate, or ``None`` for each one's
            native size (``BackboneSpec.default_size``).
        by: The score to order by: ``"logme"`` or ``"knn_accuracy"``.
        k: Neighbours of the k-NN score.
        batch_size: Images per batch of the feature pass.
        seed: Seed of the sample.
        verbose: 0 quiet, 1 a line per backbone.

    Returns:
        A :class:`BackboneRanking`.

    Raises:
        ValueError: An unknown backbone name (the valid ones are listed), an empty
            ``candidates`` list, bad ``sample``, ``by`` or ``k``, or fewer than 2 classes.
        TypeError: ``data`` or ``candidates`` of the wrong type.
        FileNotFoundError: ``data`` is not a folder, or weights are missing.

    Example:
        >>> import numpy as np
        >>> from tlkit import ImageSet
        >>> import tempfile, os
        >>> from PIL import Image
        >>> folder = tempfile.mkdtemp()
        >>> rng = np.random.default_rng(0)
        >>> paths, labels = [], []
        >>> for i in range(8):
        ...     path = os.path.join(folder, f"{i}.png")
        ...     Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype="uint8")).save(path)
        ...     paths.append(path); labels.append(i % 2)
        >>> ranking = rank_backbones(ImageSet(paths, labels, ["a", "b"]),
        ...                          ["mobilenet_v3_small"], weights=None, image_size=32,
        ...                          verbose=0)
        >>> ranking.order, list(ranking.table.columns[:2])
        (['mobilenet_v3_small'], ['logme', 'knn_accuracy'])
    """
    start = time.perf_counter()
    if isinstance(data, (str, os.PathLike)):
        if not os.path.isdir(data):
            raise FileNotFoundError(f"data={os.fspath(data)!r} does not exist or is not a "
                                    f"folder; expected one sub-folder of images per class.")
        data = ImageFolder(data, verbose=min(verbose, 1))
    if not isinstance(data, ImageSet):
        raise type_error("data", data, "a folder path or a tlkit ImageSet")
    names = list(DEFAULT_CANDIDATES if candidates is None else _names(candidates))
    specs = [get_backbone_spec(name) for name in names]  # unknown names fail before work
    sample = check_int("sample", sample, minimum=4)
    check_choice("by", by, RANKING_SCORES)
    k = check_int("k", k, minimum=1)
    size = None if image_size is None else check_image_size("image_size", image_size)
    images = _sample(data, sample, check_int("seed", seed))
    present = int(np.count_nonzero(np.bincount(images.labels)))
    if present < 2:
        raise ValueError(f"data must hold images of at least 2 classes to rank backbones; "
                         f"it has {present}. Received: {data!r}.")
    rows = {}
    for spec in specs:
        began = time.perf_counter()
        backbone = build_backbone(spec.name, image_size=size or spec.default_size,
                                  weights=_weights_of(weights, spec.name), pooling="avg")
        features, labels = extract_features(backbone, images, batch_size=batch_size,
                                            verbose=0)
        extracted = time.perf_counter()
        logme = logme_score(features, labels)
        scored = time.perf_counter()
        knn = knn_accuracy(features, labels, k=k)
        rows[spec.name] = {"logme": logme, "knn_accuracy": knn,
                           "image_size": int((size or (spec.default_size,))[0]),
                           "feature_seconds": extracted - began,
                           "logme_seconds": scored - extracted,
                           "knn_seconds": time.perf_counter() - scored}
        if verbose:
            print(f"{spec.name}: LogME {logme:.4f}, {k}-NN accuracy {knn:.2%} "
                  f"({extracted - began:.1f} s features)")
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "backbone"
    return BackboneRanking(table, images=len(images), num_classes=present, by=by,
                           seconds=time.perf_counter() - start, paths=images.paths)


def _names(candidates: Any) -> list[str]:
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise type_error("candidates", candidates, "a list of backbone names or None")
    if not candidates:
        raise ValueError("candidates must name at least one backbone. Received: candidates=[].")
    if len(set(candidates)) != len(candidates):
        raise ValueError(f"candidates names a backbone twice. Received: "
                         f"candidates={list(candidates)!r}.")
    return list(candidates)

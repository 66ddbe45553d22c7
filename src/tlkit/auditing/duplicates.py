"""Duplicates: exact (the same bytes) and near (the same photo re-encoded, resized or
lightly cropped), each pair tagged by its classes and, given a split, its parts.

Near duplicates are pairs whose pooled backbone features have a cosine similarity of at
least :data:`DUPLICATE_THRESHOLD` (0.95). Calibrated on Caltech-101 with MobileNetV2
(ImageNet weights): 300 random images were each copied once with one of four edits and
the similarity of every copy to its original measured, beside the pairs of distinct
images of the data set above the threshold (looked at by eye). Share of copies found at
0.95:

==========================  ======  ======  ======
edit                        224 px  128 px  96 px
==========================  ======  ======  ======
JPEG quality 25             45 %    77 %    92 %
2/3 size, JPEG quality 40   8 %     63 %    87 %
10 % cropped, quality 85    20 %    12 %    11 %
17 % cropped, half size     0 %     0 %     0 %
Caltech-101 pairs above     116     101     255
==========================  ======  ======  ======

At 224 px nearly every pair above 0.95 is the same photo (or its mirror image); between
0.92 and 0.95 about half are different photos of the same scene (one person, one bike
model), so a lower threshold finds more copies (at 224 px, 0.92 finds 83 %, 27 %, 71 %
and 0 %) at the price of look-alikes. Smaller images tell re-encoded copies apart best.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from tlkit._checks import check_number

__all__ = ["DUPLICATE_THRESHOLD", "count_near_duplicates", "duplicate_pairs", "file_hashes"]

DUPLICATE_THRESHOLD = 0.95
"""Cosine similarity of two images' features from which they are called near duplicates."""

_BLOCK = 1024


def unit_rows(features: np.ndarray) -> np.ndarray:
    """L2-normalised float32 rows: their dot products are cosine similarities."""
    features = np.asarray(features, dtype=np.float32)
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def file_hashes(paths: Sequence[str], *, workers: int = 4) -> list[str]:
    """The SHA-1 of each file's bytes (threads; files are only read)."""
    def digest(path: str) -> str:
        with open(path, "rb") as file:
            return hashlib.sha1(file.read()).hexdigest()  # noqa: S324 - an identity, not a secret

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(digest, paths))


def _near_pairs(unit: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    pairs = []
    for start in range(0, len(unit), _BLOCK):
        sims = unit[start:start + _BLOCK] @ unit.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist()):
            if c > start + r:
                pairs.append((start + r, c, float(sims[r, c])))
    return pairs


def duplicate_pairs(features: np.ndarray, hashes: Sequence[str], labels: np.ndarray,
                    class_names: Sequence[str], paths: Sequence[str], *,
                    parts: Sequence[str] | None = None,
                    threshold: float = DUPLICATE_THRESHOLD) -> pd.DataFrame:
    """Every exact and near duplicate pair, most similar first.

    Columns: ``path_a``, ``path_b``, ``similarity``, ``kind`` (``"exact"`` or
    ``"near"``), ``given_a``, ``given_b``, ``classes`` (``"same"`` or ``"different"``) and
    ``splits`` (``"train/test"`` for a pair across two parts, ``""`` within one or without
    ``parts``).
    """
    unit = unit_rows(features)
    found: dict[tuple[int, int], float] = {(a, b): s for a, b, s in _near_pairs(unit, threshold)}
    same_bytes: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(hashes):
        same_bytes[digest].append(i)
    exact = set()
    for group in same_bytes.values():
        for x, a in enumerate(group):
            for b in group[x + 1:]:
                exact.add((a, b))
                found.setdefault((a, b), float(unit[a] @ unit[b]))
    rows = []
    for (a, b), similarity in found.items():
        part = "" if parts is None or parts[a] == parts[b] else f"{parts[a]}/{parts[b]}"
        rows.append((paths[a], paths[b], similarity, "exact" if (a, b) in exact else "near",
                     class_names[labels[a]], class_names[labels[b]],
                     "same" if labels[a] == labels[b] else "different", part))
    frame = pd.DataFrame(rows, columns=["path_a", "path_b", "similarity", "kind", "given_a",
                                        "given_b", "classes", "splits"])
    return frame.sort_values(["similarity", "path_a", "path_b"], ascending=[False, True, True],
                             ignore_index=True)


def count_near_duplicates(features: np.ndarray, reference: np.ndarray, *,
                          duplicate_threshold: float = DUPLICATE_THRESHOLD) -> int:
    """How many rows of ``features`` have a near duplicate among the rows of ``reference``.

    The leakage count of a split: pass the test images' features and the training
    images' features (the same backbone, weights and image size, e.g. from
    :func:`tlkit.extract_features`) to learn how many test images the model has, in
    effect, already seen.

    Args:
        features: ``(n, channels)`` features of the images to check (e.g. test).
        reference: ``(m, channels)`` features to look in (e.g. train).
        duplicate_threshold: Cosine similarity from which two images are near duplicates.

    Returns:
        The number of rows of ``features`` with at least one row of ``reference`` at
        ``duplicate_threshold`` or above.

    Raises:
        ValueError: The arrays are not 2-D with the same number of channels, or
            ``duplicate_threshold`` is outside ``(0, 1]``.

    Example:
        >>> train = np.eye(4, 8)
        >>> test = np.stack([train[0] + 0.01, np.ones(8)])
        >>> count_near_duplicates(test, train)
        1
    """
    threshold = check_number("duplicate_threshold", duplicate_threshold, low=0.0, high=1.0,
                             low_inclusive=False)
    features, reference = np.asarray(features), np.asarray(reference)
    if features.ndim != 2 or reference.ndim != 2 or features.shape[1] != reference.shape[1]:
        raise ValueError(f"features and reference must be 2-D with the same number of "
                         f"channels. Received: features of shape {features.shape} and "
                         f"reference of shape {reference.shape}.")
    if not len(features) or not len(reference):
        return 0
    unit, ref = unit_rows(features), unit_rows(reference)
    hits = sum(int(((unit[s:s + _BLOCK] @ ref.T).max(axis=1) >= threshold).sum())
               for s in range(0, len(unit), _BLOCK))
    return hits

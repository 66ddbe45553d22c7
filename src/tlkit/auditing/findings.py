"""What the out-of-fold probabilities and the features say about each image: label
issues, outliers, and pairs of classes the data cannot tell apart.

Label issues are cleanlab's confident learning (Northcutt et al., 2021): every image is
scored by the out-of-fold probability of its given label (``self_confidence``; lowest =
most suspicious), and as many of the first as cleanlab estimates are mislabelled
(``num_label_issues``, from the confident joint) are marked as issues. Beside the score,
each image carries what tells a *wrong label* from an *unusual image*: how sure the
out-of-fold model is of the class it suggests instead, and how typical the image is of
any class at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SURE", "class_overlap", "label_issues", "outliers", "typicality"]

SURE = 0.5
"""Out-of-fold probability of the suggested class above which a label issue is called a
likely *wrong label*; below it the model is unsure of every class: an *unusual image*."""

_NEIGHBOURS = 5


def _unit(features: np.ndarray) -> np.ndarray:
    """Centred, L2-normalised rows (cosine similarity is then a dot product)."""
    centred = features - features.mean(axis=0, keepdims=True)
    return centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)


def typicality(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[
        np.ndarray, np.ndarray]:
    """How close each image is to its nearest class, and which class that is.

    The closeness to a class is the mean cosine similarity to its ``5`` nearest images
    (the image itself and exact copies of it left out), so a class of several looks is
    judged by the look nearest the image, not by one average.

    Returns:
        ``(similarity, nearest_class)``, both ``(n,)``.
    """
    unit = _unit(np.asarray(features, dtype=np.float32))
    n = len(unit)
    best = np.full(n, -np.inf, dtype=np.float32)
    nearest = np.zeros(n, dtype=np.int64)
    for c in range(num_classes):
        members = unit[labels == c]
        if len(members) == 0:
            continue
        k = min(_NEIGHBOURS, len(members))
        for start in range(0, n, 1024):
            sims = unit[start:start + 1024] @ members.T
            sims[sims > 0.999] = -np.inf  # itself or a copy: not evidence of typicality
            top = -np.partition(-sims, k - 1, axis=1)[:, :k]
            finite = np.isfinite(top)
            score = np.where(finite, top, 0.0).sum(1) / np.maximum(finite.sum(1), 1)
            score[~finite.any(1)] = -1.0
            better = score > best[start:start + 1024]
            best[start:start + 1024][better] = score[better]
            nearest[start:start + 1024][better] = c
    return best, nearest


def label_issues(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str],
                 paths: list[str], similarity: np.ndarray) -> pd.DataFrame:
    """Every image, most suspicious label first.

    Columns: ``path``, ``given``, ``suggested`` (the most probable class out of fold: the
    given one when it is the most probable), ``score`` (out-of-fold
    probability of the given label: 0 most suspicious, 1 clean), ``suggested_confidence``,
    ``is_issue`` (among the first ``num_label_issues``), ``verdict`` (``"wrong label"``,
    ``"unusual image"`` or ``""``) and ``typicality`` (see :func:`typicality`).
    """
    from cleanlab.count import num_label_issues
    from cleanlab.rank import get_label_quality_scores

    scores = get_label_quality_scores(labels, probabilities, method="self_confidence")
    order = np.lexsort((np.arange(len(labels)), scores))
    try:
        # Confident learning's estimate of how many labels are wrong; which ones is the
        # ranking's answer (measured better than cleanlab's own pick, see the audit guide).
        count = int(num_label_issues(labels, probabilities))
    except ValueError:  # e.g. a class of one image; rank without a verdict
        count = 0
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[order[:count]] = True
    suggested = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(labels)), suggested]
    verdict = np.where(~flagged, "", np.where((suggested != labels) & (confidence >= SURE),
                                              "wrong label", "unusual image"))
    names = np.asarray(class_names, dtype=object)
    frame = pd.DataFrame({
        "path": paths, "given": names[labels], "suggested": names[suggested],
        "score": scores.astype(np.float64), "suggested_confidence": confidence.astype(np.float64),
        "is_issue": flagged, "verdict": verdict, "typicality": similarity.astype(np.float64)})
    return frame.iloc[order].reset_index(drop=True)


def outliers(similarity: np.ndarray, nearest: np.ndarray, labels: np.ndarray,
             class_names: list[str], paths: list[str], *, spread: float = 4.0) -> pd.DataFrame:
    """Images far from every class, farthest first.

    An image is an outlier when its similarity to its nearest class (:func:`typicality`)
    lies more than ``spread`` robust standard deviations (1.4826 x the median absolute
    deviation) below the median of all images.

    Columns: ``path``, ``given``, ``nearest_class``, ``similarity``, ``z`` (robust z-score,
    negative = far).
    """
    median = float(np.median(similarity))
    scale = 1.4826 * float(np.median(np.abs(similarity - median))) or 1e-12
    z = (similarity - median) / scale
    keep = np.flatnonzero(z < -spread)
    keep = keep[np.argsort(z[keep], kind="stable")]
    names = np.asarray(class_names, dtype=object)
    return pd.DataFrame({"path": [paths[i] for i in keep], "given": names[labels[keep]],
                         "nearest_class": names[nearest[keep]],
                         "similarity": similarity[keep].astype(np.float64),
                         "z": z[keep].astype(np.float64)})


def class_overlap(probabilities: np.ndarray, labels: np.ndarray,
                  class_names: list[str]) -> pd.DataFrame:
    """Pairs of classes the out-of-fold model confuses, most confused first.

    ``rate`` is the share of the two classes' images that the model gives to the other
    class of the pair (either way round); ``a_as_b`` and ``b_as_a`` count them.
    """
    k = len(class_names)
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    sizes = np.bincount(labels, minlength=k)
    rows = []
    for a, b in zip(*np.triu_indices(k, 1)):
        mixed = counts[a, b] + counts[b, a]
        if mixed:
            rows.append((class_names[a], class_names[b], int(counts[a, b]), int(counts[b, a]),
                         mixed / (sizes[a] + sizes[b])))
    frame = pd.DataFrame(rows, columns=["class_a", "class_b", "a_as_b", "b_as_a", "rate"])
    return frame.sort_values(["rate", "class_a", "class_b"], ascending=[False, True, True],
                             ignore_index=True)

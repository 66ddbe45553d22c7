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

__all__ = ["OUTLIER_THRESHOLD", "SURE", "class_overlap", "label_issues", "outliers", "typicality"]

SURE = 0.5
"""Out-of-fold probability of the suggested class above which a label issue is called a
likely *wrong label*; below it the model is unsure of every class: an *unusual image*."""

OUTLIER_THRESHOLD = 3.5
"""Robust standard deviations below the median closeness to the nearest class from which
an image is an outlier. Calibrated on Caltech-101 with MobileNetV2 (224 px; see the audit
guide): 6 of its 8,677 images are flagged, all rightly labelled but atypical (a drawn
pyramid, Snoopy on a sweater); with 60 junk images planted in random classes, all 10
blank and 10 noise images, 4 of 10 screenshots and 9 of 30 unrelated photos (Caltech's
BACKGROUND_Google) are flagged beside 5 of the real images."""


def typicality(features: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[
        np.ndarray, np.ndarray]:
    """How close each image is to its nearest class, and which class that is.

    The closeness to a class is the cosine similarity of the image's features to the mean
    direction of the class's (L2-normalised) features; its own class's mean is taken
    without the image itself, so an image alone in its class is close to nothing. Class
    means, not nearest neighbours: junk images look like each other (ten blank scans are
    each other's nearest neighbours, in whichever class), but like no class as a whole.

    Returns:
        ``(similarity, nearest_class)``, both ``(n,)``; similarity in ``[-1, 1]``.
    """
    features = np.asarray(features, dtype=np.float32)
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sums = np.zeros((num_classes, unit.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, unit)
    means = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
             ).astype(np.float32)
    others = sums[labels] - unit  # the own class without the image
    norms = np.linalg.norm(others, axis=1)
    own = np.where(norms > 1e-6, (unit * others).sum(1) / np.maximum(norms, 1e-12), -1.0)
    similarity = np.empty(len(unit), dtype=np.float32)
    nearest = np.empty(len(unit), dtype=np.int64)
    for start in range(0, len(unit), 1024):
        rows = slice(start, start + 1024)
        sims = unit[rows] @ means.T
        sims[np.arange(len(sims)), labels[rows]] = own[rows]
        sims[:, np.linalg.norm(sums, axis=1) == 0] = -np.inf  # classes without images
        nearest[rows] = sims.argmax(1)
        similarity[rows] = sims.max(1)
    return similarity, nearest


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
             class_names: list[str], paths: list[str], *,
             threshold: float = OUTLIER_THRESHOLD) -> pd.DataFrame:
    """Images far from every class, farthest first.

    An image is an outlier when its similarity to its nearest class (:func:`typicality`)
    lies more than ``threshold`` robust standard deviations (1.4826 x the median absolute
    deviation) below the median of all images.

    Columns: ``path``, ``given``, ``nearest_class``, ``similarity``, ``z`` (robust z-score,
    negative = far).
    """
    median = float(np.median(similarity))
    scale = 1.4826 * float(np.median(np.abs(similarity - median))) or 1e-12
    z = (similarity - median) / scale
    keep = np.flatnonzero(z < -threshold)
    keep = keep[np.argsort(z[keep], kind="stable")]
    names = np.asarray(class_names, dtype=object)
    return pd.DataFrame({"path": [paths[i] for i in keep], "given": names[labels[keep]],
                         "nearest_class": names[nearest[keep]],
                         "similarity": similarity[keep].astype(np.float64),
                         "z": z[keep].astype(np.float64)})


def class_overlap(probabilities: np.ndarray, labels: np.ndarray, class_names: list[str],
                  duplicates: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pairs of classes the out-of-fold model confuses (or that share photos), most
    confused first.

    Each direction has its own rate: ``a_as_b_rate`` is the share of class a's images the
    model gives to b (``a_as_b`` of them), ``b_as_a_rate`` the share of b's given to a.
    ``rate`` is the larger of the two, so a small class swallowed by a large one is not
    diluted by the large one's size (a pooled rate put 11 % of Caltech-101's helicopters
    taken for airplanes at 1.6 %). ``shared_photos`` counts the duplicate pairs (exact or
    near) with one image in each class, from ``duplicates`` (:func:`duplicate_pairs`'
    table): two classes holding the same photos overlap even when the model tells them
    apart by something else, such as the crop (Caltech-101's ``Faces`` and
    ``Faces_easy``). A pair is listed when it has a confusion or a shared photo.
    """
    k = len(class_names)
    predicted = probabilities.argmax(axis=1)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    sizes = np.maximum(np.bincount(labels, minlength=k), 1)
    shared = np.zeros((k, k), dtype=np.int64)
    if duplicates is not None and len(duplicates):
        index = {name: i for i, name in enumerate(class_names)}
        across = duplicates[duplicates["given_a"] != duplicates["given_b"]]
        for a, b in zip(across["given_a"].map(index), across["given_b"].map(index)):
            shared[min(a, b), max(a, b)] += 1
    rows = []
    for a, b in zip(*np.triu_indices(k, 1)):
        if counts[a, b] or counts[b, a] or shared[a, b]:
            a_rate, b_rate = counts[a, b] / sizes[a], counts[b, a] / sizes[b]
            rows.append((class_names[a], class_names[b], int(counts[a, b]), int(counts[b, a]),
                         a_rate, b_rate, max(a_rate, b_rate), int(shared[a, b])))
    frame = pd.DataFrame(rows, columns=["class_a", "class_b", "a_as_b", "b_as_a", "a_as_b_rate",
                                        "b_as_a_rate", "rate", "shared_photos"])
    return frame.sort_values(["rate", "shared_photos", "class_a", "class_b"],
                             ascending=[False, False, True, True], ignore_index=True)

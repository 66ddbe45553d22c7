"""How well a backbone's frozen features suit a labelled data set, before any training.

Two scores of features and labels, both cheap next to fine-tuning:

* :func:`logme_score`: LogME (You, Liu, Wang and Long, "LogME: Practical Assessment of
  Pre-trained Models for Transfer Learning", ICML 2021). For each class, the labels as a
  0/1 target are modelled as a Bayesian linear regression on the features, with a
  Gaussian prior of precision ``alpha`` on the weights and noise of precision ``beta``;
  both are set by maximizing the evidence (MacKay's fixed-point updates), and the score
  is the maximum log evidence per image, averaged over the classes. Higher is better;
  it needs no hyper-parameter and no held-out split.
* :func:`knn_accuracy`: leave-one-out k-nearest-neighbour accuracy under cosine
  similarity, a plain rival that asks no more.

The paper's algorithm is computed on one singular value decomposition of the features
shared by every class, so the cost is that of one SVD of ``(n, d)`` plus a few vector
operations per class and iteration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tlkit._checks import check_int, type_error

__all__ = ["knn_accuracy", "logme_score"]


def _check(features: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    if not hasattr(features, "__len__") or isinstance(features, str):
        raise type_error("features", features, "a 2-D array of numbers")
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images, dimensions). "
                         f"Received: features with shape {features.shape}.")
    if len(features) != len(labels):
        raise ValueError(f"features and labels differ in length: {len(features)} and "
                         f"{len(labels)}.")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"labels must hold at least 2 classes to rank by. Received: "
                         f"{len(np.unique(labels))} class(es) in {len(labels)} labels.")
    if not np.all(np.isfinite(features)):
        raise ValueError("features must be finite (no NaN or infinity).")
    return features, labels


def logme_score(features: Any, labels: Any, *, max_iterations: int = 50,
                tolerance: float = 1e-3) -> float:
    """LogME: the log evidence per image of a linear model of the labels on the features.

    Args:
        features: ``(n, d)`` features of ``n`` images (e.g. pooled backbone features).
        labels: ``n`` class labels (any hashable values; one-vs-rest per class).
        max_iterations: Fixed-point iterations at most per class (it converges in a few).
        tolerance: Stop when ``alpha / beta`` changes by less than this, relatively.

    Returns:
        The mean over classes of the maximum log evidence divided by ``n``. Comparable
        between backbones on the same images and labels (higher is better), not between
        data sets.

    Raises:
        ValueError: Shapes that do not match, fewer than 2 classes, or non-finite values.
        TypeError: ``features`` is not an array.

    Example:
        Features that carry the label score higher than features that do not:

        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.integers(0, 3, 300)
        >>> noise = rng.normal(size=(300, 16))
        >>> informative = noise + 3 * np.eye(16)[labels]
        >>> logme_score(informative, labels) > logme_score(noise, labels)
        True
    """
    features, labels = _check(features, labels)
    max_iterations = check_int("max_iterations", max_iterations, minimum=1)
    n, d = features.shape
    u, s, _ = np.linalg.svd(features, full_matrices=False)
    sigma2 = s ** 2  # the nonzero eigenvalues of F^T F; the other d - k are 0
    k = len(s)
    evidences = []
    for value in np.unique(labels):
        y = (labels == value).astype(np.float64)
        uy = u.T @ y  # y in the basis of F's left singular vectors
        outside = float(y @ y - uy @ uy)  # the part of y no linear model of F can reach
        alpha, beta = 1.0, 1.0
        for _ in range(max_iterations):
            # Posterior mean m = beta (alpha I + beta F^T F)^-1 F^T y, in the right singular
            # basis: m_i = beta s_i (U^T y)_i / (alpha + beta s_i^2).
            m = beta * s * uy / (alpha + beta * sigma2)
            gamma = float(np.sum(beta * sigma2 / (alpha + beta * sigma2)))
            m_norm = float(m @ m)
            residual = outside + float(np.sum((uy - s * m) ** 2))  # ||F m - y||^2
            new_alpha = gamma / max(m_norm, 1e-12)
            new_beta = max(n - gamma, 1e-12) / max(residual, 1e-12)
            done = abs(new_alpha / new_beta - alpha / beta) <= tolerance * (alpha / beta)
            alpha, beta = new_alpha, new_beta
            if done:
                break
        m = beta * s * uy / (alpha + beta * sigma2)
        m_norm = float(m @ m)
        residual = outside + float(np.sum((uy - s * m) ** 2))
        log_det = float(np.sum(np.log(alpha + beta * sigma2))) + (d - k) * np.log(alpha)
        evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * residual - alpha / 2 * m_norm - log_det / 2)
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def knn_accuracy(features: Any, labels: Any, *, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of the features, cosine similarity.

    Each image is classified by a majority vote of its ``k`` most similar other images
    (ties go to the class whose voters are most similar in total).

    Args:
        features: ``(n, d)`` features.
        labels: ``n`` class labels.
        k: Neighbours that vote (at most ``n - 1`` are used).

    Returns:
        The share of images whose vote gives their own label, in ``[0, 1]``.

    Raises:
        ValueError: Shapes that do not match, fewer than 2 classes, non-finite values, or
            ``k`` below 1.

    Example:
        >>> import numpy as np
        >>> features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
        >>> knn_accuracy(features, [0, 0, 1, 1], k=1)
        1.0
    """
    features, labels = _check(features, labels)
    k = min(check_int("k", k, minimum=1), len(features) - 1)
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    classes, codes = np.unique(labels, return_inverse=True)
    correct = 0
    for start in range(0, len(unit), 1024):  # rows in blocks: memory n x 1024 at most
        block = unit[start:start + 1024] @ unit.T
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf  # not itself
        nearest = np.argpartition(-block, k - 1, axis=1)[:, :k]
        similarity = np.take_along_axis(block, nearest, axis=1)
        votes = np.zeros((len(block), len(classes)))
        np.add.at(votes, (rows[:, None], codes[nearest]), 1.0 + 1e-6 * similarity)
        correct += int(np.sum(votes.argmax(axis=1) == codes[start:start + len(block)]))
    return correct / len(unit)

"""Tests for tlkit.transferability: LogME and leave-one-out k-NN accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from tlkit import knn_accuracy, logme_score


def _reference_logme(features: np.ndarray, labels: np.ndarray) -> float:
    """The paper's Algorithm 1 written the long way: (alpha I + beta F^T F) through an
    eigendecomposition of the d x d matrix F^T F, residuals from F m directly."""
    n, d = features.shape
    eigenvalues, vectors = np.linalg.eigh(features.T @ features)
    eigenvalues = np.clip(eigenvalues, 0, None)
    scores = []
    for c in np.unique(labels):
        y = (labels == c).astype(float)
        projected = vectors.T @ (features.T @ y)
        alpha = beta = 1.0
        for _ in range(200):
            gamma = np.sum(beta * eigenvalues / (alpha + beta * eigenvalues))
            m = vectors @ (beta * projected / (alpha + beta * eigenvalues))
            new_alpha = gamma / (m @ m)
            new_beta = (n - gamma) / np.sum((features @ m - y) ** 2)
            converged = abs(new_alpha / new_beta - alpha / beta) < 1e-9 * (alpha / beta)
            alpha, beta = new_alpha, new_beta
            if converged:
                break
        m = vectors @ (beta * projected / (alpha + beta * eigenvalues))
        residual = np.sum((features @ m - y) ** 2)
        evidence = (n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
                    - beta / 2 * residual - alpha / 2 * (m @ m)
                    - np.sum(np.log(alpha + beta * eigenvalues)) / 2)
        scores.append(evidence / n)
    return float(np.mean(scores))


@pytest.mark.parametrize(("n", "d"), [(300, 16), (120, 40)])
def test_logme_equals_the_papers_algorithm(n: int, d: int) -> None:
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 4, n)
    features = rng.normal(size=(n, d)) + 2.0 * np.eye(d)[labels]
    np.testing.assert_allclose(logme_score(features, labels, tolerance=1e-9),
                               _reference_logme(features, labels), rtol=1e-6)


def test_logme_with_fewer_images_than_dimensions_is_finite_and_still_orders() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 40)
    noise = rng.normal(size=(40, 128))
    informative = noise + 4.0 * np.eye(128)[labels]
    assert np.isfinite(logme_score(noise, labels))
    assert logme_score(informative, labels) > logme_score(noise, labels)
    # Labels of any type; the order of the classes does not matter.
    names = np.array(["c", "a", "b"])[labels]
    assert logme_score(informative, names) == pytest.approx(logme_score(informative, labels))


def test_knn_accuracy_leaves_each_image_out() -> None:
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.05]])
    labels = [0, 0, 1, 1, 1]
    # The last image's nearest others are class 0: wrong; every other one is right.
    assert knn_accuracy(features, labels, k=1) == pytest.approx(4 / 5)
    assert knn_accuracy(features, labels, k=10) >= 0  # k above n - 1 is capped
    # Scale does not matter (cosine similarity).
    assert knn_accuracy(features * 7.0, labels, k=1) == pytest.approx(4 / 5)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: logme_score(np.zeros((3, 2)), [0, 1]), ValueError, "differ in length"),
    (lambda: logme_score(np.zeros(4), [0, 1, 0, 1]), ValueError, "2-D array"),
    (lambda: logme_score(np.zeros((4, 2)), [1, 1, 1, 1]), ValueError, "at least 2 classes"),
    (lambda: logme_score(np.full((2, 2), np.nan), [0, 1]), ValueError, "finite"),
    (lambda: logme_score("features", [0, 1]), TypeError, "features must be"),
    (lambda: knn_accuracy(np.eye(2), [0, 1], k=0), ValueError, "k must be"),
])
def test_bad_input_is_a_clear_error(call: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()  # type: ignore[operator]

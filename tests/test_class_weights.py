"""Tests for tlkit.class_weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.class_weight import compute_class_weight

from tlkit import class_counts, compute_class_weights

METHODS = ["balanced", "inverse_sqrt", "effective_number"]

# Label arrays where every class 0..k-1 appears at least once.
labels_strategy = st.integers(2, 12).flatmap(
    lambda k: st.lists(st.integers(0, k - 1), min_size=0, max_size=200).map(
        lambda extra: np.array(list(range(k)) + extra, dtype=np.int64)
    )
)


@settings(max_examples=60, deadline=None)
@given(labels_strategy)
def test_balanced_equals_scikit_learn(labels: np.ndarray) -> None:
    classes = np.arange(labels.max() + 1)
    expected = compute_class_weight("balanced", classes=classes, y=labels)
    got = compute_class_weights(labels)
    assert list(got) == classes.tolist()
    np.testing.assert_allclose([got[c] for c in classes], expected, rtol=1e-12)
    counts = np.bincount(labels)
    assert sum(got[c] * counts[c] for c in classes) == pytest.approx(len(labels))


@settings(max_examples=60, deadline=None)
@given(labels_strategy, st.sampled_from(METHODS), st.booleans(),
       st.floats(0.5, 0.9999))
def test_weights_positive_and_rarer_classes_never_get_less(
    labels: np.ndarray, method: str, normalize: bool, beta: float
) -> None:
    weights = compute_class_weights(labels, method=method, normalize=normalize, beta=beta)
    counts = np.bincount(labels)
    w = np.array([weights[c] for c in range(len(counts))])
    assert np.all(w > 0) and np.all(np.isfinite(w))
    order = np.argsort(counts, kind="stable")
    for rare, frequent in zip(order[:-1], order[1:]):
        if counts[rare] < counts[frequent]:
            assert w[rare] >= w[frequent] * (1 - 1e-9)
        else:
            assert w[rare] == pytest.approx(w[frequent])
    if normalize:
        assert np.sum(w * counts) == pytest.approx(len(labels))


@settings(max_examples=25, deadline=None)
@given(labels_strategy, st.integers(1, 64))
def test_one_hot_list_and_tf_data_inputs_agree(labels: np.ndarray, batch: int) -> None:
    expected = compute_class_weights(labels)
    k = int(labels.max()) + 1
    assert compute_class_weights(labels.tolist()) == expected
    assert compute_class_weights(np.eye(k)[labels]) == expected
    images = np.zeros((len(labels), 2, 2, 1), "float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    assert compute_class_weights(dataset) == expected
    assert compute_class_weights(dataset.batch(batch)) == expected
    one_hot_batched = tf.data.Dataset.from_tensor_slices((images, np.eye(k)[labels])).batch(batch)
    assert compute_class_weights(one_hot_batched) == expected


def test_effective_number_matches_the_paper_formula() -> None:
    labels = np.array([0] * 10 + [1] * 100 + [2] * 1000)
    beta = 0.99
    raw = compute_class_weights(labels, method="effective_number", beta=beta, normalize=False)
    for c, n in enumerate([10, 100, 1000]):
        assert raw[c] == pytest.approx((1 - beta) / (1 - beta ** n))
    sqrt = compute_class_weights(labels, method="inverse_sqrt", normalize=False)
    assert sqrt[0] == pytest.approx(1 / np.sqrt(10))


def test_dataset_labels_are_read_without_needing_the_images() -> None:

    def expensive(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.io.decode_jpeg(x), y  # would fail: these strings are not JPEGs

    paths = tf.constant(["not-a-jpeg"] * 6)
    dataset = tf.data.Dataset.from_tensor_slices((paths, [0, 1, 1, 2, 2, 2])).map(expensive)
    # tf.data fuses the label selection into the map and prunes the unused decode (with no
    # batch in between; a batched to_dataset() pipeline decodes: pass the ImageSet there).
    weights = compute_class_weights(dataset)
    assert weights[0] == pytest.approx(2.0)


def test_class_weights_are_used_by_keras_fit() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = np.array([0] * 56 + [1] * 8)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    def loss_with(class_weight: dict[int, float] | None) -> float:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
        history = model.fit(dataset, epochs=1, class_weight=class_weight, verbose=0)
        return history.history["loss"][0]

    weights = compute_class_weights(dataset)
    assert len(weights) == 2
    plain, weighted = loss_with(None), loss_with(weights)
    assert weighted != pytest.approx(plain, rel=1e-4)
    heavy = loss_with({0: 1.0, 1: 100.0})
    assert heavy != pytest.approx(weighted, rel=1e-4)


def test_missing_classes_policies() -> None:
    with pytest.raises(ValueError, match="Classes 1, 3 have no samples"):
        compute_class_weights([0, 2, 2], num_classes=4)
    zero = compute_class_weights([0, 2, 2], num_classes=4, missing="zero")
    assert zero[1] == 0.0 and zero[3] == 0.0 and zero[0] > zero[2] > 0
    top = compute_class_weights([0, 2, 2], num_classes=4, missing="max")
    assert top[1] == top[3] == top[0]
    assert class_counts([0, 2, 2], num_classes=4).tolist() == [1, 0, 2, 0]


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        ([0.0, 1.0], {}, TypeError, "must be integer class indices, got dtype float64"),
        ([0, -1, 2], {}, ValueError, "labels must be >= 0, got -1"),
        ([[1, 0], [1, 1]], {}, ValueError, "row 1 is \\[1, 1\\]"),
        ([[0.5, 0.5]], {}, ValueError, "row 0 is"),
        ([0, 5], {"num_classes": 3}, ValueError, "num_classes must be at least 6: the largest label is 5. Received: num_classes=3"),
        ([], {}, ValueError, "labels is empty"),
        ("abc", {}, TypeError, "labels must be an array"),
        ([0, 1], {"method": "inverse"}, ValueError, "Unknown method.*Received: method='inverse'"),
        ([0, 1], {"beta": 1.0}, ValueError, r"beta must be a number in \[0, 1\)"),
        ([0, 1], {"missing": "drop"}, ValueError, "Unknown missing.*Received: missing='drop'"),
        ([True, False], {}, TypeError, "must be integer class indices"),
    ],
)
def test_bad_labels(labels: object, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        compute_class_weights(labels, **kwargs)


def test_dataset_without_labels_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"must yield \(x, y\)"):
        compute_class_weights(tf.data.Dataset.from_tensor_slices(np.zeros((3, 2))))


def test_user_labels_are_not_modified() -> None:
    labels = np.array([2, 0, 1, 1])
    compute_class_weights(labels)
    assert labels.tolist() == [2, 0, 1, 1]


def test_an_image_set_gives_its_labels_without_decoding_an_image() -> None:
    from tlkit import ImageSet

    # The paths do not exist: any attempt to decode would fail.
    images = ImageSet(["/no/such/a.jpg", "/no/such/b.jpg", "/no/such/c.jpg"], [0, 0, 2],
                      ["x", "y", "z"])
    assert class_counts(images).tolist() == [2, 0, 1]  # num_classes from the set: 3
    weights = compute_class_weights(images, missing="zero")
    assert weights == compute_class_weights([0, 0, 2], num_classes=3, missing="zero")

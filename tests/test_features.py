"""Tests for tlkit.features: cached features and head training on them."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from _helpers import calibrate_batch_norm
from PIL import Image

from tlkit import AugmentationPolicy, ClassifierHead, ImageSet, build_backbone, build_classifier
from tlkit.features import _at_feature_size, extract_features, feature_extractor, fit_head

SHAPE = (32, 32, 3)


@pytest.fixture()
def image_set(tmp_path: Path) -> ImageSet:
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 36, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
        labels.append(i % 3)
    return ImageSet(paths, labels, ["a", "b", "c"])


def _backbone(image_set: ImageSet) -> keras.Model:
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    pixels = next(image_set.to_dataset(10, image_size=32).as_numpy_iterator())[0]
    calibrate_batch_norm(backbone, pixels)
    return backbone


def test_cached_and_through_backbone_heads_predict_the_same(image_set: ImageSet) -> None:
    backbone = _backbone(image_set)
    features, labels = extract_features(backbone, image_set, batch_size=4, verbose=0)
    assert features.shape == (10, 1280) and labels.tolist() == image_set.labels.tolist()
    head = ClassifierHead(3, hidden_units=(16,), dropout=0.3)
    fit_head(head, features, labels, epochs=3, verbose=0, seed=0)
    model = build_classifier(backbone, head)  # the same, trained head object
    pixels = np.concatenate([x for x, _ in image_set.to_dataset(4, image_size=32).as_numpy_iterator()])
    through_backbone = model.predict(pixels, verbose=0)
    on_features = np.asarray(head(features, training=False))
    assert features.std(axis=0).mean() > 0.01  # real, image-dependent features
    assert through_backbone.std(axis=0).max() > 1e-3  # predictions differ between images
    np.testing.assert_allclose(through_backbone, on_features, rtol=1e-4, atol=1e-5)


def test_features_at_a_smaller_size_run_the_same_weights_on_resized_images(
        image_set: ImageSet) -> None:
    """TrainingOptions.feature_size: images read at the backbone's size (48), features
    computed at 32 by a copy holding the same weights, after an antialiased resize."""
    backbone = build_backbone("mobilenet_v2", image_size=48, weights=None)
    pixels = next(image_set.to_dataset(10, image_size=48).as_numpy_iterator())[0]
    calibrate_batch_norm(backbone, pixels)
    smaller = _at_feature_size(backbone, "mobilenet_v2", (32, 32))
    assert smaller.input_shape == (None, 48, 48, 3)
    got, labels = extract_features(smaller, image_set, batch_size=4, verbose=0)
    assert labels.tolist() == image_set.labels.tolist()
    at_48, _ = extract_features(backbone, image_set, batch_size=4, verbose=0)
    assert got.std(axis=0).mean() > 0.01  # real, image-dependent features
    assert not np.allclose(got, at_48, atol=1e-3)  # it did not run at 48
    copy = build_backbone("mobilenet_v2", image_size=32, weights=None)
    copy.set_weights(backbone.get_weights())
    resized = tf.image.resize(pixels, (32, 32), antialias=True).numpy()
    want, _ = extract_features(copy, tf.data.Dataset.from_tensor_slices(
        (resized, image_set.labels)).batch(4), verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"feature_size must give at least 32 pixels per side "
                                         r"for 'mobilenet_v2'\. Received: feature_size -> "
                                         r"\(24, 24\)"):
        _at_feature_size(backbone, "mobilenet_v2", (24, 24))


def test_augmented_views_come_after_the_clean_view(image_set: ImageSet) -> None:
    backbone = _backbone(image_set)
    policy = AugmentationPolicy(flip="horizontal_and_vertical", rotation=0.2, seed=0)
    features, labels = extract_features(backbone, image_set, augmented_views=2, augment=policy,
                                        batch_size=4, verbose=0)
    clean, _ = extract_features(backbone, image_set, batch_size=4, verbose=0)
    assert features.shape == (30, 1280)
    assert labels.tolist() == image_set.labels.tolist() * 3
    np.testing.assert_allclose(features[:10], clean, rtol=1e-5, atol=1e-6)
    assert not np.allclose(features[10:20], clean, rtol=1e-2, atol=1e-3)


def test_extract_features_from_a_dataset_and_progress(capsys: pytest.CaptureFixture) -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None, pooling="avg")
    data = tf.data.Dataset.from_tensor_slices(
        (np.zeros((6, *SHAPE), "float32"), np.arange(6))).batch(4)
    features, labels = extract_features(backbone, data)
    assert features.shape == (6, 1280) and labels.tolist() == list(range(6))
    assert "2/2" in capsys.readouterr().err  # the one progress display: tqdm on stderr


def test_feature_extractor_pooling() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=64, weights=None)
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    fmap = np.asarray(backbone(x))
    np.testing.assert_allclose(feature_extractor(backbone)(x), fmap.mean(axis=(1, 2)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(feature_extractor(backbone, pooling="max")(x),
                               fmap.max(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="Unknown pooling"):
        feature_extractor(backbone, pooling="sum")


def test_fit_head_learns_and_uses_class_weights() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype("float32")
    y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
    keras.utils.set_random_seed(0)
    head = ClassifierHead(2, hidden_units=(), dropout=0.0)
    history = fit_head(head, x, y, epochs=30, learning_rate=0.05, validation_data=(x, y),
                       verbose=0, seed=0)
    assert history.history["val_accuracy"][-1] > 0.9
    keras.utils.set_random_seed(0)
    smoothed = ClassifierHead(2, hidden_units=(), dropout=0.0)
    smooth_history = fit_head(smoothed, x, y, epochs=2, label_smoothing=0.1,
                              class_weight={0: 1.0, 1: 3.0}, verbose=0, seed=0)
    # Label smoothing keeps the loss away from 0 even on separable data; it trained.
    losses = smooth_history.history["loss"]
    assert len(losses) == 2 and all(np.isfinite(losses)) and losses[1] < losses[0]


def test_bad_inputs(image_set: ImageSet) -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    with pytest.raises(ValueError, match="needs augment="):
        extract_features(backbone, image_set, augmented_views=1)
    with pytest.raises(ValueError, match="augmented_views must be an int >= 0"):
        extract_features(backbone, image_set, augmented_views=-1)
    with pytest.raises(TypeError, match="must be a tlkit ImageSet or a tf.data.Dataset"):
        extract_features(backbone, np.zeros((2, *SHAPE)))
    with pytest.raises(ValueError, match="empty"):
        extract_features(backbone, image_set.subset([]))
    head = ClassifierHead(3)
    with pytest.raises(ValueError, match="differ in length: 4 and 3"):
        fit_head(head, np.zeros((4, 5)), np.zeros(3))
    with pytest.raises(ValueError, match="must be 2-D"):
        fit_head(head, np.zeros((4, 5, 1)), np.zeros(4))


def test_fit_head_trains_a_logits_head_on_the_logits_loss() -> None:
    """A head with output_activation='linear' returns logits; a probability loss on them
    would clip negative logits and learn nothing useful (the defect this guards)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    head = ClassifierHead(2, hidden_units=(), dropout=0.0, output_activation="linear")
    history = fit_head(head, x, y, epochs=30, learning_rate=0.05, seed=0, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    logits = np.asarray(head(x))
    assert logits.min() < 0.0  # really logits, not probabilities
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_augmented_views_differ_from_each_other_and_repeat_for_a_seed(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    images = ImageSet(paths, [0, 1] * 3, ["a", "b"])
    # A "backbone" that returns its pixels, so the features are the augmented images.
    inputs = keras.Input((32, 32, 3))
    pixels = keras.Model(inputs, keras.layers.Flatten()(inputs))
    policy = AugmentationPolicy(flip=None, rotation=0.2, zoom=0.2, seed=3)

    def views() -> np.ndarray:
        features, _ = extract_features(pixels, images, batch_size=4, augmented_views=2,
                                       augment=policy, verbose=0)
        return features.reshape(3, len(images), -1)

    clean, first, second = views()
    assert not np.allclose(clean, first)
    assert not np.allclose(first, second), "two augmented views were the same"
    np.testing.assert_array_equal(np.stack([clean, first, second]), views())  # reproducible


def test_one_pass_of_features_is_returned_without_a_copy(
    image_set: ImageSet, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tlkit.features as features_module

    made = np.ones((10, 1280), np.float32)
    monkeypatch.setattr(features_module, "predict_with_labels",
                        lambda *args, **kwargs: (made, image_set.labels))
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    features, labels = extract_features(backbone, image_set, batch_size=4, verbose=0)
    assert features is made and labels.tolist() == image_set.labels.tolist()

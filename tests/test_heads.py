"""Tests for tlkit.heads: ClassifierHead and build_classifier."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import calibrate_batch_norm

from tlkit import ClassifierHead, build_backbone, build_classifier

SMALL = (32, 32, 3)


def test_head_pools_feature_maps_and_accepts_vectors() -> None:
    head = ClassifierHead(4, hidden_units=(8, 6), dropout=0.0)
    fmap = np.random.default_rng(0).normal(size=(3, 2, 2, 5)).astype("float32")
    out_map = np.asarray(head(fmap))
    assert out_map.shape == (3, 4)
    np.testing.assert_allclose(out_map.sum(axis=1), 1.0, rtol=1e-5)
    # Same weights on the pooled vector give the same answer as on the map ("avg").
    out_vec = np.asarray(head(fmap.mean(axis=(1, 2))))
    np.testing.assert_allclose(out_map, out_vec, rtol=1e-5, atol=1e-6)


def test_head_structure_follows_its_arguments() -> None:
    head = ClassifierHead(3, hidden_units=(7,), batch_norm=True, l2=1e-3, pooling="max")
    head(np.zeros((2, 5), "float32"))
    kernels = [w.shape for w in head.weights if "kernel" in w.path]
    assert kernels == [(5, 7), (7, 3)]
    assert any("bn_0" in w.path for w in head.weights)
    linear = ClassifierHead(3, hidden_units=(), output_activation="linear")
    logits = np.asarray(linear(np.ones((2, 5), "float32")))
    assert not np.allclose(logits.sum(axis=1), 1.0)
    assert len(head.losses) == 2  # one L2 penalty per kernel


def test_head_rejects_wrong_rank() -> None:
    head = ClassifierHead(3)
    with pytest.raises(ValueError, match=r"expects features of shape.*\(2, 4, 5\)"):
        head(np.zeros((2, 4, 5), "float32"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_classes": 1}, ValueError, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 2.0}, TypeError, "num_classes must be an int"),
        ({"num_classes": 3, "dropout": -0.1}, ValueError, r"dropout must be a number in \[0, 1\). Received: dropout=-0.1"),
        ({"num_classes": 3, "dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\). Received: dropout=1.0"),
        ({"num_classes": 3, "hidden_units": (8, 0)}, ValueError, r"hidden_units\[1\] must be an int >= 1"),
        ({"num_classes": 3, "hidden_units": 8}, TypeError, "hidden_units must be a sequence"),
        ({"num_classes": 3, "pooling": "mean"}, ValueError, "Unknown pooling: expected one of avg, max. Received: pooling='mean'"),
        ({"num_classes": 3, "output_activation": "relu"}, ValueError, "output_activation"),
        ({"num_classes": 3, "l2": -1}, ValueError, r"l2 must be a number in \[0, inf\)"),
        ({"num_classes": 3, "activation": "nope"}, ValueError, "nope"),
    ],
)
def test_head_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ClassifierHead(**kwargs)


def test_head_config_round_trip() -> None:
    head = ClassifierHead(5, hidden_units=(16, 8), dropout=0.3, activation="gelu", l2=0.01,
                          batch_norm=True, pooling="max", output_activation="linear", name="h")
    clone = ClassifierHead.from_config(head.get_config())
    assert clone.get_config() == head.get_config()


def test_head_output_is_float32_under_mixed_precision() -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        head = ClassifierHead(3, hidden_units=(4,))
        out = head(np.ones((2, 6), "float32"))
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert head.classifier.compute_dtype == "float32"
        assert head.hidden_layers[1].compute_dtype == "float16"
    finally:
        keras.config.set_dtype_policy(previous)


def test_build_classifier_freezes_backbone_batch_norm() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, trainable=True)
    model = build_classifier(backbone, ClassifierHead(3, hidden_units=()))
    bns = [l for l in backbone.get_layer("mobilenet_v2").layers
           if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and not any(l.trainable for l in bns)
    assert model.output_shape == (None, 3)
    backbone2 = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, trainable=True)
    build_classifier(backbone2, ClassifierHead(3), train_bn=True)
    assert all(l.trainable for l in backbone2.get_layer("mobilenet_v2").layers
               if isinstance(l, keras.layers.BatchNormalization))


def test_build_classifier_augmentation_only_in_training() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, pooling="avg")
    x = np.random.default_rng(0).uniform(0, 255, (16, *SMALL)).astype("float32")
    calibrate_batch_norm(backbone, x)  # a random backbone's features are otherwise constant
    flip = keras.layers.RandomFlip("horizontal", seed=1)
    head = ClassifierHead(3, dropout=0.0)  # no dropout: only the augmentation differs
    model = build_classifier(backbone, head, augment=flip)
    plain = build_classifier(backbone, head)  # same backbone and head, no augmentation
    assert any(isinstance(l, keras.layers.RandomFlip) for l in model.layers)
    # Inference: the augmentation is the identity.
    np.testing.assert_allclose(model(x, training=False), plain(x, training=False), atol=1e-6)
    # Training: some images are mirrored, so the outputs change (batch norm stays frozen,
    # so the flip is the only difference), and exactly as for the mirrored pixels.
    trained = np.asarray(model(x, training=True))
    assert not np.allclose(trained, np.asarray(plain(x, training=False)), atol=1e-6)
    mirrored = np.asarray(plain(x[:, :, ::-1, :], training=False))
    unchanged = np.asarray(plain(x, training=False))
    per_image = [np.allclose(t, m, atol=1e-5) or np.allclose(t, u, atol=1e-5)
                 for t, m, u in zip(trained, mirrored, unchanged)]
    assert all(per_image)

    class Policy:
        def as_layer(self) -> keras.layers.Layer:
            return keras.layers.RandomRotation(0.1)

    model2 = build_classifier(backbone, ClassifierHead(3), augment=Policy())
    assert any(isinstance(l, keras.layers.RandomRotation) for l in model2.layers)


def test_build_classifier_bad_arguments() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None)
    with pytest.raises(TypeError, match="head must be a keras.layers.Layer"):
        build_classifier(backbone, "head")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="backbone must be a keras.Model"):
        build_classifier("mobilenet_v2", ClassifierHead(3))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="augment must be None"):
        build_classifier(backbone, ClassifierHead(3), augment=0.5)


def test_saved_classifier_predicts_identically_in_a_new_process(tmp_path: Path) -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None)
    head = ClassifierHead(4, hidden_units=(8,), batch_norm=True)
    model = build_classifier(backbone, head, augment=keras.layers.RandomFlip())
    x = np.random.default_rng(3).uniform(0, 255, (5, *SMALL)).astype("float32")
    expected = model.predict(x, verbose=0)
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, keras, tlkit\n"
        "m = keras.saving.load_model(sys.argv[1])\n"
        "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(model_path), str(tmp_path / "x.npy"),
         str(tmp_path / "y.npy")],
        check=True, capture_output=True, timeout=300,
    )
    got = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(got, expected)
    # The loaded model still knows its backbone blocks.
    loaded = keras.saving.load_model(model_path)
    from tlkit import backbone_blocks

    assert len(backbone_blocks(loaded.get_layer("mobilenet_v2_backbone"))) == 19

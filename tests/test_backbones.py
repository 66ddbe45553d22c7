"""Tests for tlkit.backbones: the registry, build_backbone and the block split."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tlkit
from tlkit.backbones import Preprocessing, backbone_blocks, build_backbone, get_backbone_spec

SMALL = (32, 32, 3)


@pytest.mark.parametrize("name", tlkit.list_backbones())
def test_every_backbone_builds_with_documented_feature_dim_and_blocks(name: str) -> None:
    spec = get_backbone_spec(name)
    backbone = build_backbone(name, image_size=SMALL[:2], weights=None, pooling="avg")
    assert backbone.output_shape == (None, spec.feature_dim)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, *SMALL)).astype("float32")
    features = np.asarray(backbone(pixels))
    assert features.shape == (2, spec.feature_dim)
    assert np.all(np.isfinite(features))

    blocks = backbone_blocks(backbone)
    assert len(blocks) == spec.num_blocks
    assert blocks[0][0] == "stem"
    names = [block for block, _ in blocks]
    assert len(set(names)) == len(names)
    # Every layer of the nested network with weights is in exactly one block.
    base = backbone.get_layer(spec.keras_name)
    in_blocks = [layer.name for _, layers in blocks for layer in layers]
    assert len(in_blocks) == len(set(in_blocks))
    weighted = {layer.name for layer in base.layers if layer.weights}
    assert weighted <= set(in_blocks)


def test_frozen_by_default_and_trainable_on_request() -> None:
    frozen = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None)
    assert frozen.trainable_weights == []
    trainable = build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, trainable=True)
    assert len(trainable.trainable_weights) > 100


def test_pooling_none_gives_feature_map_and_max_pooling_works() -> None:
    fmap = build_backbone("mobilenet_v2", image_size=64, weights=None)
    assert fmap.output_shape == (None, 2, 2, 1280)
    pooled = build_backbone("mobilenet_v2", image_size=64, weights=None, pooling="max")
    assert pooled.output_shape == (None, 1280)


def test_backbone_kwargs_reach_the_constructor_and_name_names_the_model() -> None:
    model = build_backbone(
        "mobilenet_v2", image_size=SMALL[:2], weights=None, pooling="avg", alpha=0.5, model_name="mine"
    )
    assert model.name == "mine"
    assert model.output_shape == (None, 1280)  # MobileNetV2 keeps 1280 for alpha <= 1
    assert model.get_layer("mobilenet_v2").get_layer("Conv1").kernel.shape[-1] == 16


@pytest.mark.parametrize(
    ("mode", "module"),
    [("tf", "mobilenet_v2"), ("caffe", "resnet50"), ("torch", "densenet")],
)
def test_preprocessing_matches_keras_applications(mode: str, module: str) -> None:
    pixels = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    got = np.asarray(Preprocessing(mode)(pixels))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    # The user's array is not modified in place.
    assert pixels.max() > 200


def test_preprocessing_accepts_uint8_and_round_trips_config() -> None:
    layer = Preprocessing("caffe", name="pre")
    out = np.asarray(layer(np.full((1, 2, 2, 3), 255, dtype="uint8")))
    assert out.dtype == np.float32
    clone = Preprocessing.from_config(layer.get_config())
    assert clone.mode == "caffe" and clone.name == "pre"


def test_unknown_backbone_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="mobilenet_v9") as info:
        build_backbone("mobilenet_v9", weights=None)
    for name in tlkit.list_backbones():
        assert name in str(info.value)
    assert "Did you mean" in str(info.value)
    with pytest.raises(TypeError, match="name must be a backbone name"):
        build_backbone(3, weights=None)  # type: ignore[arg-type]


def test_missing_weights_path_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(FileNotFoundError, match="nope.weights.h5"):
        build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=missing)
    with pytest.raises(TypeError, match="weights must be"):
        build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=3)  # type: ignore[arg-type]


def test_weights_file_of_another_architecture_is_a_clear_error(tmp_path: Path) -> None:
    other = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(64, 64, 3)
    )
    path = tmp_path / "v3small.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match=r"could not be loaded into 'mobilenet_v2'") as info:
        build_backbone("mobilenet_v2", image_size=64, weights=path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("size", "error", "match"),
    [
        ((16, 16), ValueError, "at least 32"),
        (16, ValueError, "at least 32"),
        ((64, 64, 3), ValueError, "a \\(height, width\\) pair"),
        ((64.0, 64), TypeError, "height\\) must be an int"),
        ("64", TypeError, "image_size must be an int or a \\(height, width\\) pair"),
        ((0, 64), ValueError, "must be an int >= 1"),
    ],
)
def test_bad_image_sizes(size: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        build_backbone("mobilenet_v2", image_size=size, weights=None)  # type: ignore[arg-type]


def test_image_size_accepts_numpy_ints_and_rectangles() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=(np.int64(40), 48), weights=None)
    assert backbone.input_shape == (None, 40, 48, 3)


def test_bad_pooling_and_trainable() -> None:
    with pytest.raises(ValueError, match="Unknown pooling"):
        build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, pooling="mean")
    with pytest.raises(TypeError, match="trainable must be True or False"):
        build_backbone("mobilenet_v2", image_size=SMALL[:2], weights=None, trainable="yes")  # type: ignore[arg-type]


def test_backbone_blocks_rejects_foreign_models() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="contains no registered backbone"):
        backbone_blocks(model)
    with pytest.raises(TypeError, match="must be a keras.Model"):
        backbone_blocks("mobilenet_v2")  # type: ignore[arg-type]


def _real_images(caltech_dir: Path, count: int = 6, size: int = 224) -> np.ndarray:
    paths = []
    for folder in ("accordion", "Faces_easy", "airplanes"):
        paths += sorted((caltech_dir / folder).glob("*.jpg"))[: count // 3]
    images = [
        np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype="float32")
        for p in paths
    ]
    return np.stack(images)


@pytest.mark.real_data
def test_real_weights_give_the_same_features_as_keras(
    caltech_dir: Path, mobilenet_weights: Path
) -> None:
    pixels = _real_images(caltech_dir)
    ours = build_backbone("mobilenet_v2", weights=mobilenet_weights, pooling="avg")
    reference = keras.applications.MobileNetV2(
        weights=str(mobilenet_weights), include_top=False, pooling="avg"
    )
    expected = reference.predict(
        keras.applications.mobilenet_v2.preprocess_input(pixels.copy()), verbose=0
    )
    got = ours.predict(pixels, verbose=0)
    assert got.shape == (len(pixels), 1280)
    assert float(np.abs(expected).mean()) > 0.05  # real, non-trivial features
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_registered_backbone_works_like_a_built_in_one(tmp_path: Path) -> None:
    from _helpers import TINY_SPEC_KWARGS

    assert "tiny_test_net" in tlkit.list_backbones("tiny*")
    assert tlkit.list_backbones("mobilenet_v2") == ["mobilenet_v2"]
    backbone = build_backbone("tiny_test_net", image_size=16, weights=None)
    assert [name for name, _ in backbone_blocks(backbone)] == ["stem", "block1", "block2"]
    tlkit.unfreeze(backbone, 1)
    assert [w.name for w in backbone.trainable_weights] == ["kernel", "bias"]
    model = tlkit.build_classifier(backbone, tlkit.ClassifierHead(2, hidden_units=()))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    model.save(tmp_path / "tiny.keras")
    loaded = keras.saving.load_model(tmp_path / "tiny.keras")
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0),
                               atol=1e-6)
    # Its weights file loads through build_backbone, as the ImageNet ones do.
    backbone.get_layer("tiny_test_net").save_weights(tmp_path / "tiny.weights.h5")
    again = build_backbone("tiny_test_net", image_size=16, weights=tmp_path / "tiny.weights.h5")
    np.testing.assert_allclose(again(pixels), backbone(pixels), atol=1e-6)
    with pytest.raises(ValueError, match="already registered"):
        tlkit.register_backbone(tlkit.BackboneSpec(**TINY_SPEC_KWARGS))
    with pytest.raises(TypeError, match="spec must be a tlkit.BackboneSpec"):
        tlkit.register_backbone(TINY_SPEC_KWARGS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unknown preprocessing"):
        tlkit.BackboneSpec(**{**TINY_SPEC_KWARGS, "preprocessing": "scale"})
    with pytest.raises(ValueError, match="built-in backbone"):
        tlkit.unregister_backbone("mobilenet_v2")


# EfficientNet-Lite1 and Lite2 are Lite0's code at other widths and depths (their build and
# blocks are checked above): proven once, through Lite0, to spare 55 s.
@pytest.mark.parametrize("name", [n for n in tlkit.list_backbones()
                                  if n not in ("efficientnet_lite1", "efficientnet_lite2")])
def test_every_backbone_fine_tunes_saves_and_caches_features(name: str, tmp_path: Path) -> None:
    """The fine-tuning, save/load and cached-feature guarantees, proven for every registry
    entry (user-registered ones included), not only MobileNetV2."""
    from _helpers import calibrate_batch_norm

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (8, *SMALL)).astype("float32")
    labels = rng.integers(0, 2, 8)
    backbone = build_backbone(name, image_size=SMALL[:2], weights=None)
    calibrate_batch_norm(backbone, pixels)  # real activations from random weights

    # Cached features + head == the same head inside the full model.
    features, _ = tlkit.extract_features(
        backbone, tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(4), verbose=0)
    head = tlkit.ClassifierHead(2, hidden_units=(), dropout=0.0)
    tlkit.fit_head(head, features, labels, epochs=2, verbose=0, seed=0)
    model = tlkit.build_classifier(backbone, head)
    np.testing.assert_allclose(model.predict(pixels, verbose=0),
                               np.asarray(head(features, training=False)), rtol=1e-4, atol=1e-5)

    # GradualUnfreeze: the top block moves after its epoch; nothing below, no BN statistic.
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    blocks = backbone_blocks(backbone)
    top = [w for layer in blocks[-1][1] for w in layer.weights if "moving" not in w.path]
    below = [w for _, layers in blocks[:-1] for layer in layers for w in layer.weights]
    stats = [w for _, layers in blocks for layer in layers for w in layer.weights
             if "moving" in w.path]
    before = {w.path: _value(w) for w in [*below, *stats]}
    top_before = [_value(w) for w in top]
    model.fit(pixels, labels, epochs=2, batch_size=4, verbose=0,
              callbacks=[tlkit.GradualUnfreeze(backbone, {1: 1}, verbose=0)])
    assert top and any(not np.array_equal(a, _value(w)) for a, w in zip(top_before, top))
    assert all(np.array_equal(before[w.path], _value(w)) for w in [*below, *stats])

    # Saved and loaded, it predicts the same and still knows its blocks.
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0),
                               rtol=1e-5, atol=1e-6)
    inner = next(layer for layer in loaded.layers if layer.name == backbone.name)
    assert [n for n, _ in backbone_blocks(inner)] == [n for n, _ in blocks]


def _value(variable: keras.Variable) -> np.ndarray:
    return keras.ops.convert_to_numpy(variable)


@pytest.mark.parametrize(("key", "instead"), [("input_shape", "image_size="),
                                              ("include_top", "ClassifierHead")])
def test_arguments_tlkit_sets_itself_name_what_to_use_instead(key: str, instead: str) -> None:
    """Passed through to Keras they failed as "MobileNetV2() got multiple values for
    keyword argument 'input_shape'"."""
    with pytest.raises(TypeError, match=rf"build_backbone sets {key} itself; use .*{instead}"):
        build_backbone("mobilenet_v2", weights=None, image_size=48, **{key: (48, 48, 3)})

"""Tests for tlkit.augment: AugmentationPolicy and AugmentationLayer."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from tlkit import (
    AugmentationLayer,
    AugmentationPolicy,
    ClassifierHead,
    build_backbone,
    build_classifier,
)

matplotlib.use("Agg")

STRONG = AugmentationPolicy.preset("strong", seed=3) + AugmentationPolicy(rand_augment=True)


def _images(shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, shape).astype(dtype)


@settings(max_examples=20, deadline=None)
@given(
    batch=st.integers(1, 3),
    height=st.integers(8, 24),
    width=st.integers(8, 24),
    dtype=st.sampled_from(["float32", "uint8"]),
    preset=st.sampled_from(["light", "standard", "strong"]),
)
def test_shape_and_dtype_are_kept(batch: int, height: int, width: int, dtype: str,
                                  preset: str) -> None:
    layer = (AugmentationPolicy.preset(preset, seed=0) + AugmentationPolicy(rand_augment=True)).as_layer()
    images = _images((batch, height, width, 3), dtype)
    out = layer(images, training=True)
    assert tuple(out.shape) == images.shape
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    values = np.asarray(out)
    assert values.min() >= 0 and values.max() <= 255


def test_training_changes_images_and_inference_is_identity() -> None:
    layer = STRONG.as_layer()
    images = _images((4, 32, 32, 3), "float32")
    assert np.array_equal(np.asarray(layer(images, training=False)), images)
    assert np.array_equal(np.asarray(layer(images)), images)
    assert not np.allclose(np.asarray(layer(images, training=True)), images)


def test_same_seed_same_images_and_json_round_trip() -> None:
    images = _images((2, 24, 24, 3), "float32")
    restored = AugmentationPolicy.from_json(STRONG.to_json())
    assert restored == STRONG
    assert json.loads(STRONG.to_json())["rand_augment"] == {"num_ops": 2, "factor": 0.5}
    a = np.asarray(STRONG.as_layer()(images, training=True))
    b = np.asarray(restored.as_layer()(images, training=True))
    np.testing.assert_array_equal(a, b)
    other = np.asarray(AugmentationPolicy.from_config({**STRONG.get_config(), "seed": 4})
                       .as_layer()(images, training=True))
    assert not np.allclose(a, other)


def test_works_in_a_tf_data_map() -> None:
    layer = AugmentationPolicy.preset("standard", seed=0).as_layer()
    images = _images((6, 16, 16, 3), "uint8")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(6))).batch(3)
    out = dataset.map(lambda x, y: (layer(x, training=True), y))
    batches = list(out.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(3, 16, 16, 3)] * 2
    assert batches[0][0].dtype == np.uint8


def test_model_with_policy_saves_and_loads(tmp_path: Path) -> None:
    backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
    model = build_classifier(backbone, ClassifierHead(3), augment=STRONG)
    x = _images((2, 32, 32, 3), "float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("augmentation")
    assert isinstance(layer, AugmentationLayer) and layer.options == STRONG.get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.array([0, 1]), epochs=1, verbose=0)  # augmentation runs inside fit


def test_combination_and_presets() -> None:
    assert AugmentationPolicy.presets() == ["light", "standard", "strong"]
    standard = AugmentationPolicy.preset("standard")
    assert (standard.flip, standard.rotation, standard.zoom) == ("horizontal", 0.1, 0.2)
    combined = AugmentationPolicy(flip="vertical", brightness=0.3) + standard
    assert combined.flip == "horizontal_and_vertical"
    assert combined.brightness == 0.3 and combined.zoom == 0.2
    assert AugmentationPolicy(flip=None).is_identity()
    assert AugmentationPolicy(flip=None).describe() == "identity"
    with pytest.raises(TypeError, match="other must be an AugmentationPolicy"):
        standard.combine({"zoom": 0.1})  # type: ignore[arg-type]


def test_preview_draws_a_grid() -> None:
    figure = AugmentationPolicy.preset("strong", seed=0).preview(_images((3, 32, 32, 3), "uint8"), n=4)
    assert len(figure.axes) == 3 * 5
    assert figure.axes[0].get_title() == "original"
    assert "rotation up to ±54°" in figure._suptitle.get_text()
    single = AugmentationPolicy(seed=0).preview(_images((32, 32, 3), "float32"), n=2)
    assert len(single.axes) == 3
    with pytest.raises(ValueError, match="images must be"):
        AugmentationPolicy().preview(np.zeros((32, 32)))
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        AugmentationPolicy().preview(np.zeros((32, 32, 3)), n=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rotation": -0.1}, ValueError, r"rotation must be a number in \[0, 0.5\]. Received: rotation=-0.1"),
        ({"rotation": 0.6}, ValueError, r"rotation must be a number in \[0, 0.5\]"),
        ({"zoom": 1.0}, ValueError, r"zoom must be a number in \[0, 1\). Received: zoom=1.0"),
        ({"translation": -1}, ValueError, "translation must be a number in"),
        ({"contrast": 2}, ValueError, r"contrast must be a number in \[0, 1\]"),
        ({"brightness": "a"}, TypeError, "brightness must be a number"),
        ({"flip": "diagonal"}, ValueError, "Unknown flip.*Received: flip='diagonal'"),
        ({"rand_augment": {"num_ops": 0}}, ValueError, "num_ops"),
        ({"rand_augment": {"magnitude": 3}}, ValueError, "Unknown rand_augment key"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
    ],
)
def test_bad_factors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AugmentationPolicy(**kwargs)


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(ValueError, match="Unknown preset: expected one of light, standard, strong. Received: preset='heavy'"):
        AugmentationPolicy.preset("heavy")
    with pytest.raises(ValueError, match="Unknown augmentation option"):
        AugmentationPolicy.from_config({"shear": 0.1})


def test_layer_rejects_bad_ranks() -> None:
    with pytest.raises(ValueError, match="expects images"):
        AugmentationPolicy().as_layer()(np.zeros((4, 4), "float32"), training=True)


# --- The geometric step: one affine map per image ------------------------------------------

def _ramp(height: int, width: int) -> np.ndarray:
    """An image whose value is 2x + 3y: bilinear sampling of it is exact anywhere inside."""
    y, x = np.mgrid[0:height, 0:width].astype("float32")
    return (2 * x + 3 * y)[None, :, :, None]


@settings(max_examples=25, deadline=None)
@given(mirror_x=st.sampled_from([1.0, -1.0]), mirror_y=st.sampled_from([1.0, -1.0]),
       angle=st.floats(-0.3, 0.3), scale=st.floats(0.5, 0.8), shift_x=st.floats(-2, 2),
       shift_y=st.floats(-2, 2))
def test_affine_matrices_send_each_pixel_where_the_formula_says(
        mirror_x: float, mirror_y: float, angle: float, scale: float, shift_x: float,
        shift_y: float) -> None:
    from tlkit.augment.geometry import affine_matrices

    height, width = 21, 25
    params = [np.array([v], "float32") for v in (mirror_x, mirror_y, angle, scale, shift_x,
                                                  shift_y)]
    matrix = affine_matrices(*params, height, width)
    out = np.asarray(keras.ops.image.affine_transform(
        _ramp(height, width), matrix, interpolation="bilinear", fill_mode="reflect"))[0, :, :, 0]
    y, x = np.mgrid[0:height, 0:width].astype("float64")
    c = np.array([(width - 1) / 2, (height - 1) / 2])
    d = np.stack([(x - c[0]) * mirror_x, (y - c[1]) * mirror_y])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = c[:, None, None] + scale * np.einsum("ij,jhw->ihw", rotation, d) \
        + np.array([shift_x, shift_y])[:, None, None]
    inside = (source[0] >= 0) & (source[0] <= width - 1) & (source[1] >= 0) \
        & (source[1] <= height - 1)
    assert inside.mean() > 0.5  # scale <= 0.8 keeps most source points inside the image
    np.testing.assert_allclose(out[inside], (2 * source[0] + 3 * source[1])[inside], atol=2e-3)


def test_mirror_is_exact_and_identity_when_nothing_is_drawn() -> None:
    from tlkit.augment.geometry import affine_matrices

    images = _images((1, 6, 7, 3), "float32")
    one, zero = np.ones(1, "float32"), np.zeros(1, "float32")
    for mirror_x, mirror_y, expected in ((one, one, images), (-one, one, images[:, :, ::-1]),
                                         (one, -one, images[:, ::-1])):
        matrix = affine_matrices(mirror_x, mirror_y, zero, one, zero, zero, 6, 7)
        out = keras.ops.image.affine_transform(images, matrix, interpolation="bilinear",
                                               fill_mode="reflect")
        np.testing.assert_allclose(np.asarray(out), expected, atol=1e-4)


def test_random_geometry_draws_within_its_factors_and_repeats_with_its_seed() -> None:
    from tlkit.augment.geometry import RandomGeometry

    height, width, batch = 33, 41, 64
    ramps = np.repeat(_ramp(height, width), batch, axis=0)
    # A shift alone: the centre pixel reads 2 (cx + tx) + 3 (cy + ty).
    shifted = np.asarray(RandomGeometry(translation=0.1, seed=1)(ramps, training=True))
    cy, cx = (height - 1) // 2, (width - 1) // 2
    slope = (shifted[:, cy, cx + 1, 0] - shifted[:, cy, cx, 0]) / 2
    np.testing.assert_allclose(slope, 1.0, atol=1e-3)  # a shift keeps the scale
    centre = shifted[:, cy, cx, 0] - (2 * cx + 3 * cy)
    assert np.abs(centre).max() <= 2 * 0.1 * width + 3 * 0.1 * height + 1e-3
    assert centre.min() < 0 < centre.max()
    # A zoom alone: the slope along x is 2 * scale, scale in [0.8, 1.2], both sides drawn.
    zoomed = np.asarray(RandomGeometry(zoom=0.2, seed=1)(ramps, training=True))
    scale = (zoomed[:, cy, cx + 1, 0] - zoomed[:, cy, cx, 0]) / 2
    assert 0.8 - 1e-3 <= scale.min() < 1.0 < scale.max() <= 1.2 + 1e-3
    # The same seed draws the same maps; another seed others.
    again = np.asarray(RandomGeometry(zoom=0.2, seed=1)(ramps, training=True))
    np.testing.assert_array_equal(zoomed, again)
    other = RandomGeometry(zoom=0.2, seed=2)(ramps, training=True)
    assert not np.allclose(zoomed, np.asarray(other))


def test_random_geometry_takes_one_image() -> None:
    from tlkit.augment.geometry import RandomGeometry

    image = _images((9, 11, 3), "float32")
    out = RandomGeometry(rotation=0.1, seed=0)(image, training=True)
    assert tuple(out.shape) == (9, 11, 3)

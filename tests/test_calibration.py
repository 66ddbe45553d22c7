"""Calibration: the temperature is recovered, stored in the head, kept by save/load/export."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import tlkit
from tlkit import ClassifierHead, calibrate, expected_calibration_error, fit_temperature


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sampled(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from the softmax of those logits: calibrated at T = 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    probs = _softmax(logits)
    labels = np.array([rng.choice(k, p=p) for p in probs])
    return logits, labels


@settings(max_examples=8, deadline=None)
@given(scale=st.sampled_from([0.4, 0.6, 1.0, 1.7, 2.5]), seed=st.integers(0, 1000))
def test_the_temperature_of_scaled_logits_is_recovered(scale: float, seed: int) -> None:
    """Logits multiplied by `scale` are undone by T = scale (within 5 %)."""
    logits, labels = _sampled(4000, 10, seed)
    fitted = fit_temperature(labels, _softmax(logits * scale))
    assert fitted == pytest.approx(scale, rel=0.05)


def test_calibration_lowers_ece_and_never_changes_an_answer() -> None:
    logits, labels = _sampled(3000, 8, 0)
    soft = _softmax(logits / 2.0)  # under-confident, as label smoothing leaves a model
    result = calibrate(None, soft, labels)
    assert result.temperature == pytest.approx(0.5, rel=0.05)
    assert result.ece_before > 0.05 and result.ece_after < result.ece_before / 3
    assert result.nll_after < result.nll_before
    after = _softmax(np.log(soft) / result.temperature)
    np.testing.assert_array_equal(after.argmax(axis=1), soft.argmax(axis=1))
    assert expected_calibration_error(labels, after) == pytest.approx(result.ece_after)


def test_views_are_tempered_then_averaged_as_the_model_does() -> None:
    """With flip TTA the model averages two tempered softmaxes; the fit must see that."""
    logits, labels = _sampled(3000, 6, 1)
    rng = np.random.default_rng(2)
    views = np.stack([_softmax((logits + rng.normal(0, 1, logits.shape)) / 2),
                      _softmax((logits + rng.normal(0, 1, logits.shape)) / 2)])
    t = fit_temperature(labels, views)

    def nll(temperature: float) -> float:
        mean = np.mean([_softmax(np.log(v) / temperature) for v in views], axis=0)
        return float(-np.mean(np.log(mean[np.arange(len(labels)), labels])))

    assert nll(t) <= min(nll(t * 0.97), nll(t * 1.03))  # a minimum of the right objective
    assert nll(t) < nll(fit_temperature(labels, views.mean(axis=0))) + 1e-9


def test_bad_probabilities_and_labels_are_named() -> None:
    with pytest.raises(ValueError, match="one row per label"):
        fit_temperature([0, 1, 1], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 1\]"):
        fit_temperature([0, 2], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(TypeError, match="model must be a keras.Model or None"):
        calibrate("model.keras", np.ones((2, 2)) / 2, [0, 1])  # type: ignore[arg-type]
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Softmax()])
    with pytest.raises(ValueError, match="has none; pass apply=False"):
        calibrate(plain, np.ones((4, 3), "float32"), [0, 1, 0, 1])
    head = ClassifierHead(2, hidden_units=())
    with pytest.raises(ValueError, match="not built yet"):
        head.set_temperature(0.5)
    head.build((None, 3))
    with pytest.raises(ValueError, match=r"temperature must be a number in \(0, inf\)"):
        head.set_temperature(0.0)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, np.ndarray]:
    """A small classifier whose temperature was fitted on pixels, and those pixels."""
    keras.utils.set_random_seed(0)
    backbone = tlkit.build_backbone("tiny_test_net", image_size=16, weights=None)
    model = tlkit.build_classifier(backbone, ClassifierHead(3, hidden_units=()))
    rng = np.random.default_rng(0)
    pixels = rng.uniform(0, 255, (60, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 3, 60)
    before = keras.ops.convert_to_numpy(model(pixels))
    result = calibrate(model, pixels, labels, flip_tta=True)
    assert result.temperature != pytest.approx(1.0)
    after = keras.ops.convert_to_numpy(model(pixels))
    np.testing.assert_array_equal(after.argmax(axis=1), before.argmax(axis=1))
    assert not np.allclose(after, before, atol=1e-4)
    return model, pixels


def test_the_temperature_travels_with_the_model(calibrated: tuple, tmp_path: Path) -> None:
    """model.keras and a float32 TFLite export answer with the fitted temperature."""
    model, pixels = calibrated
    expected = keras.ops.convert_to_numpy(model(pixels))
    temperature = tlkit.calibration.find_head(model).temperature
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert tlkit.calibration.find_head(loaded).temperature == pytest.approx(temperature)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(pixels)), expected, atol=1e-6)
    lite = tlkit.LiteRTModel(tlkit.export_model(model, tmp_path / "m.tflite"))
    np.testing.assert_allclose(lite.predict_proba(pixels), expected, atol=1e-4)


def test_a_head_saved_before_temperatures_loads_uncalibrated() -> None:
    head = ClassifierHead(2, hidden_units=())
    head.build((None, 3))
    head.set_temperature(0.3)
    head.load_own_variables({})  # what a file written before the temperature holds
    assert head.temperature == 1.0


def test_calibrate_on_a_dataset_equals_calibrate_on_its_probabilities(calibrated: tuple) -> None:
    model, pixels = calibrated
    labels = np.arange(len(pixels)) % 3
    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(16)
    on_model = calibrate(model, dataset, apply=False)
    probabilities = keras.ops.convert_to_numpy(model(pixels))
    on_probabilities = calibrate(None, probabilities, labels)
    assert on_model.temperature / tlkit.calibration.find_head(model).temperature == \
        pytest.approx(on_probabilities.temperature, rel=1e-4)


def test_images_that_carry_no_estimate_leave_the_temperature_as_it_was() -> None:
    """Every answer right: the likelihood grows as T falls to its bound, which would make
    the next (wrong) answers certain too. The temperature must stay."""
    head = ClassifierHead(2, hidden_units=())
    model = keras.Sequential([keras.Input((2,)), head])
    x = np.array([[3.0, -3.0], [-3.0, 3.0], [2.0, -2.0]], "float32")
    head.classifier.set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    with pytest.warns(UserWarning, match="carry no estimate.*every answer is right"):
        result = calibrate(model, x, [0, 1, 0])
    assert head.temperature == 1.0 and result.temperature == 1.0
    assert result.ece_after == pytest.approx(result.ece_before, rel=1e-5)


def test_a_dataset_that_reshuffles_keeps_each_image_with_its_mirror(calibrated: tuple) -> None:
    """Image and mirror come from the same batch of the same pass: a dataset that
    reshuffles on every pass must fit the temperature of the unshuffled one."""
    model, pixels = calibrated
    labels = np.arange(len(pixels)) % 3
    ordered = tf.data.Dataset.from_tensor_slices((pixels, labels)).batch(16)
    shuffled = tf.data.Dataset.from_tensor_slices((pixels, labels)).shuffle(
        len(pixels), seed=3, reshuffle_each_iteration=True).batch(16)
    expected = calibrate(model, ordered, flip_tta=True, apply=False).temperature
    assert calibrate(model, shuffled, flip_tta=True, apply=False).temperature == \
        pytest.approx(expected, rel=1e-4)


def test_the_report_shows_calibration_before_and_after(tmp_path: Path) -> None:
    """A calibrated report keeps the scores at temperature 1: its figure draws both curves
    and its summary has both errors; scores of another shape are refused."""
    logits, labels = _sampled(2000, 5, 3)
    before = _softmax(logits / 2.0)
    after = _softmax(logits)
    names = list("abcde")
    report = tlkit.EvaluationReport(labels, after, class_names=names, uncalibrated=before)
    summary = report.summary()
    assert summary["expected_calibration_error_uncalibrated"] == pytest.approx(
        expected_calibration_error(labels, before))
    assert summary["expected_calibration_error"] < summary[
        "expected_calibration_error_uncalibrated"] / 3
    ax = report.plot_reliability(n_bins=10)
    assert "before calibration" in ax.get_title()
    (curve,) = [line for line in ax.get_lines() if line.get_label().startswith("before")]
    table = tlkit.calibration.reliability_table(labels, before, 10)
    np.testing.assert_allclose(curve.get_xdata(), table["confidence"])
    plain = tlkit.EvaluationReport(labels, after, class_names=names)
    assert "before" not in plain.plot_reliability().get_title()
    assert plain.summary()["expected_calibration_error_uncalibrated"] is None
    with pytest.raises(ValueError):
        tlkit.EvaluationReport(labels, after, class_names=names, uncalibrated=before[:, :3])
    report.plot_reliability().figure.savefig(tmp_path / "r.png", dpi=80)

"""Tests for tlkit.interpolation: WeightInterpolation (WiSE-FT weight mixing)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import Interrupt, calibrate_batch_norm
from hypothesis import given, settings
from hypothesis import strategies as st

from tlkit import (
    AugmentationPolicy,
    ClassifierHead,
    GradualUnfreeze,
    WeightInterpolation,
    build_backbone,
    build_classifier,
)

SHAPE = (32, 32, 3)


def _data(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, *SHAPE)).astype("float32"), rng.integers(0, 3, n)


def _dense_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _fit(model: keras.Model, mixer: WeightInterpolation, epochs: int = 3) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 2))
    model.fit(x, y, epochs=epochs, batch_size=8, callbacks=[mixer], verbose=0)


def _values(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def test_leaves_the_model_at_the_mix_of_start_and_end() -> None:
    model = _dense_model()
    before = _values(model)
    mixer = WeightInterpolation(alpha=0.25, verbose=0)
    _fit(model, mixer)
    # Every weight, batch-norm statistics included, was recorded.
    assert len(mixer.variables) == len(model.weights) == 8
    for start, value in zip(mixer.start_weights, before):
        np.testing.assert_array_equal(start, value)
    moved = [not np.array_equal(s, e) for s, e in zip(mixer.start_weights, mixer.end_weights)]
    assert all(moved)  # SGD moved every trainable weight, training mode moved the BN stats
    for variable, start, end in zip(mixer.variables, mixer.start_weights, mixer.end_weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), 0.75 * start + 0.25 * end,
                                   rtol=1e-6, atol=1e-7)
    assert mixer.alpha == 0.25


def test_low_precision_weights_are_mixed_too() -> None:
    # bfloat16 and float16 are floating point as well: they must not be skipped.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, dtype="bfloat16"),
                              keras.layers.Dense(2, dtype="float16")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    mixer = WeightInterpolation(alpha=0.5, verbose=0)
    _fit(model, mixer)
    assert len(mixer.variables) == len(model.weights) == 4
    assert [str(s.dtype) for s in mixer.start_weights] == ["bfloat16"] * 2 + ["float16"] * 2
    for variable, start, end in zip(mixer.variables, mixer.start_weights, mixer.end_weights):
        assert not np.array_equal(start, end)
        expected = 0.5 * start.astype("float32") + 0.5 * end.astype("float32")
        value = keras.ops.convert_to_numpy(variable)
        assert value.dtype == start.dtype
        np.testing.assert_allclose(value.astype("float32"), expected, rtol=1e-2, atol=1e-2)


def test_apply_moves_between_the_ends_and_changes_predictions() -> None:
    model = _dense_model()
    mixer = WeightInterpolation(alpha=1.0, verbose=0)
    x = np.random.default_rng(2).normal(size=(5, 4))
    start_prediction = model.predict(x, verbose=0)
    _fit(model, mixer)
    end_prediction = model.predict(x, verbose=0)
    assert not np.allclose(start_prediction, end_prediction)
    for value, end in zip(_values(model), mixer.end_weights):  # alpha=1: untouched
        np.testing.assert_array_equal(value, end)
    mixer.apply(0.0)
    np.testing.assert_allclose(model.predict(x, verbose=0), start_prediction, rtol=1e-6)
    mixer.apply(1.0)
    np.testing.assert_allclose(model.predict(x, verbose=0), end_prediction, rtol=1e-6)
    mixer.apply(0.5)
    half = model.predict(x, verbose=0)
    assert not np.allclose(half, start_prediction) and not np.allclose(half, end_prediction)
    assert mixer.alpha == 0.5


@settings(max_examples=25, deadline=None)
@given(alpha=st.floats(0.0, 1.0))
def test_apply_is_the_linear_mix_for_any_alpha(alpha: float) -> None:
    mixer = WeightInterpolation(verbose=0)
    variable = keras.Variable(np.zeros((3, 2), "float32"))
    mixer.variables = [variable]
    mixer.start_weights = [np.full((3, 2), -2.0, "float32")]
    mixer.end_weights = [np.arange(6, dtype="float32").reshape(3, 2)]
    mixer.apply(alpha)
    expected = (1 - alpha) * mixer.start_weights[0] + alpha * mixer.end_weights[0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-5,
                               atol=1e-5)


def test_frozen_weights_and_integer_state_are_left_alone() -> None:
    keras.utils.set_random_seed(0)
    x, y = _data()
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    calibrate_batch_norm(backbone, _data(16, seed=99)[0])
    policy = AugmentationPolicy(flip="horizontal", rotation=0.1, seed=0)
    model = build_classifier(backbone, ClassifierHead(3, hidden_units=(), name="head"),
                             augment=policy)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    frozen = {v.path: keras.ops.convert_to_numpy(v) for v in backbone.weights}
    integers = [v for v in model.variables if "int" in str(v.dtype)]
    assert integers  # the augmentation's seed state
    mixer = WeightInterpolation(alpha=0.5, verbose=0)
    # The top block is unfrozen by GradualUnfreeze in epoch 1, inside the same fit().
    unfreezer = GradualUnfreeze(backbone, {1: 1}, verbose=0)
    model.fit(x, y, epochs=2, batch_size=4, callbacks=[unfreezer, mixer], verbose=0)
    integer_after_fit = [keras.ops.convert_to_numpy(v) for v in integers]
    moved = {v.path for v, s, e in zip(mixer.variables, mixer.start_weights, mixer.end_weights)
             if not np.array_equal(s, e)}
    conv_1 = backbone.get_layer("mobilenet_v2").get_layer("Conv_1").kernel
    assert conv_1.path in moved  # unfrozen in epoch 1 and mixed
    for variable in backbone.weights:
        if variable.path not in moved:  # frozen: bit-identical to before fit()
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable),
                                          frozen[variable.path])
    assert all(not np.issubdtype(s.dtype, np.integer) for s in mixer.start_weights)
    for variable, value in zip(integers, integer_after_fit):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), value)


def test_prints_what_it_did(capsys: pytest.CaptureFixture[str]) -> None:
    model = _dense_model()
    _fit(model, WeightInterpolation(alpha=0.5))
    assert "WeightInterpolation: 8 of 8 weights changed" in capsys.readouterr().out


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_out_of_range(alpha: float) -> None:
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        WeightInterpolation(alpha=alpha)


@pytest.mark.parametrize("alpha", ["0.5", True, None])
def test_alpha_of_wrong_type(alpha: object) -> None:
    with pytest.raises(TypeError, match="alpha must be a number"):
        WeightInterpolation(alpha=alpha)  # type: ignore[arg-type]


def test_apply_before_fit_and_with_a_bad_alpha() -> None:
    mixer = WeightInterpolation(verbose=0)
    with pytest.raises(ValueError, match="needs the weights of a finished fit"):
        mixer.apply(0.5)
    model = _dense_model()
    _fit(model, mixer, epochs=1)
    before = _values(model)
    with pytest.raises(ValueError, match="alpha must be a number in"):
        mixer.apply(2.0)
    for value, expected in zip(_values(model), before):  # nothing changed by the refusal
        np.testing.assert_array_equal(value, expected)


def test_a_resumed_fit_mixes_with_the_weights_the_first_run_started_from(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")

    def model(seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(2, activation="softmax")])
        net.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        return net

    def fit(net: keras.Model, callbacks: list) -> None:
        net.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0, callbacks=callbacks)

    expected = model(0)
    fit(expected, [WeightInterpolation(0.5, verbose=0)])

    backup = tmp_path / "backup"
    first = model(0)
    with pytest.raises(RuntimeError, match="simulated"):
        fit(first, [keras.callbacks.BackupAndRestore(str(backup)),
                    WeightInterpolation(0.5, backup_dir=backup, verbose=0), Interrupt(2)])
    assert (backup / "weight_interpolation_start.npz").is_file()
    # A new process rebuilds the model (other initial weights) and resumes from the backup.
    resumed = model(1)
    mixer = WeightInterpolation(0.5, backup_dir=backup, verbose=0)
    fit(resumed, [keras.callbacks.BackupAndRestore(str(backup)), mixer])
    for got, want in zip(resumed.get_weights(), expected.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not (backup / "weight_interpolation_start.npz").exists()  # finished: cleaned up
    # Without backup_dir the resumed run mixes with mid-run weights: not the same model.
    lost = tmp_path / "lost"
    with pytest.raises(RuntimeError):
        fit(model(0), [keras.callbacks.BackupAndRestore(str(lost)),
                       WeightInterpolation(0.5, verbose=0), Interrupt(2)])
    forgetful = model(1)
    fit(forgetful, [keras.callbacks.BackupAndRestore(str(lost)), WeightInterpolation(0.5, verbose=0)])
    assert not all(np.allclose(a, b, atol=1e-4)
                   for a, b in zip(forgetful.get_weights(), expected.get_weights()))

"""Tests for tlkit._keras_fixes: patched only where known to be needed, warned about elsewhere.

Every test restores Keras' functions and the module's flag afterwards, so the patches do
not leak into other tests of the same process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer

from tlkit import _keras_fixes as fixes


@pytest.fixture
def originals(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Keras' two functions as they are now; put back after the test."""
    build = trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce = trainer.reduce_per_replica
    monkeypatch.setattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", build)
    monkeypatch.setattr(trainer, "reduce_per_replica", reduce)
    monkeypatch.setattr(fixes, "_ENABLED", False)
    return build, reduce


def _patched() -> tuple[bool, bool]:
    return (trainer.TensorFlowTrainer._maybe_symbolic_build.__module__ == fixes.__name__,
            trainer.reduce_per_replica.__module__ == fixes.__name__)


def test_the_probes_show_both_bugs_in_the_installed_keras(originals: tuple[Any, Any]) -> None:
    assert fixes._is_tested(keras.version()), "the installed Keras is the tested one"
    assert fixes._probe_build(trainer) and fixes._probe_reduce(trainer)


@pytest.mark.parametrize(("version", "tested"), [
    ("3.15.0", True), ("3.15.1", True), ("3.15.2rc1", True), ("3.16.0", False),
    ("3.1.5", False), ("3.150.0", False), ("4.15.0", False), ("3.15", True), ("dev", False)])
def test_tested_versions_are_matched_on_major_and_minor(version: str, tested: bool) -> None:
    assert fixes._is_tested(version) == tested


def test_an_untested_keras_is_not_patched_and_the_warning_says_so(
        originals: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras, "version", lambda: "3.16.0")
    with pytest.warns(RuntimeWarning, match=r"did not patch Keras 3\.16\.0 .*not a tested "
                      r"version, and probes show the bugs still there.*Not patched: "
                      r"TensorFlowTrainer\._maybe_symbolic_build.*reduce_per_replica.*3\.15\.x"):
        assert fixes.enable_multi_worker_fit() is False
    assert _patched() == (False, False) and fixes._ENABLED is False
    assert trainer.reduce_per_replica is originals[1]


def test_missing_internals_are_not_patched_and_the_warning_says_so(
        originals: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(trainer, "_collective_all_reduce_multi_worker")
    with pytest.warns(RuntimeWarning, match=r"did not patch Keras 3\.15\.\d+ .*internals are "
                      r"not the ones.*AttributeError.*_collective_all_reduce_multi_worker"):
        assert fixes.enable_multi_worker_fit() is False
    assert _patched() == (False, False) and fixes._ENABLED is False


def test_a_bug_the_probe_no_longer_shows_is_not_patched(
        originals: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """As if a Keras release had fixed the scalar reduction: only the other fix is applied."""
    def fixed_reduce(values: Any, strategy: Any, reduction: str) -> Any:
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)

    monkeypatch.setattr(trainer, "reduce_per_replica", fixed_reduce)
    with pytest.warns(RuntimeWarning, match=r"no longer shows the bug.*Not patched: "
                      r"reduce_per_replica"):
        assert fixes.enable_multi_worker_fit() is False
    assert _patched() == (True, False) and trainer.reduce_per_replica is fixed_reduce


def _fit_once(strategy: tf.distribute.Strategy | None) -> tuple[np.ndarray, np.ndarray, float]:
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    keras.utils.set_random_seed(0)
    with scope:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
    before = model.get_weights()[0]
    rng = np.random.default_rng(0)
    dataset = tf.data.Dataset.from_tensor_slices(
        (rng.normal(size=(16, 4)).astype("float32"), rng.integers(0, 3, 16))).batch(8)
    history = model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    return before, model.get_weights()[0], history.history["loss"][-1]


def test_after_patching_fit_in_one_process_still_works(originals: tuple[Any, Any]) -> None:
    reference = _fit_once(None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert fixes.enable_multi_worker_fit() is True
    assert _patched() == (True, True)
    assert fixes.enable_multi_worker_fit() is True  # once: a second call changes nothing
    for strategy in (None, tf.distribute.MirroredStrategy(["/cpu:0"])):
        before, after, loss = _fit_once(strategy)
        assert np.isfinite(loss) and not np.array_equal(before, after)
        np.testing.assert_allclose(after, reference[1], atol=1e-6)  # as without the patch


def test_probing_and_patching_leave_tensorflow_unstarted() -> None:
    """make_strategy("multiworker") patches first, then creates the strategy, which fails
    once TensorFlow's runtime has started ("Collective ops must be configured at program
    startup"); so does setting logical devices, checked here in a fresh process."""
    script = (
        "import tensorflow as tf\n"
        "from tlkit._keras_fixes import enable_multi_worker_fit\n"
        "assert enable_multi_worker_fit()\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()])\n"
        "print('unstarted')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "unstarted"

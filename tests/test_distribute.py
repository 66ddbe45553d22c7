"""Strategies by name, TF_CONFIG checks and the epoch-ordered shuffle (in one process;
tests/test_multiworker.py runs real worker processes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tlkit


def test_strategies_by_name() -> None:
    assert tlkit.make_strategy("default") is tf.distribute.get_strategy()
    assert isinstance(tlkit.make_strategy("mirrored"), tf.distribute.MirroredStrategy)
    assert tlkit.is_chief() and tlkit.worker_index() == 0
    with pytest.raises(ValueError, match="Received: name='spread'"):
        tlkit.make_strategy("spread")
    with pytest.raises(ValueError, match="timeout_seconds"):
        tlkit.make_strategy("multiworker", timeout_seconds=0)


@pytest.mark.parametrize(("config", "match"), [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG must be JSON such as"),
    (json.dumps({"cluster": {"worker": ["a:1"]}}), "TF_CONFIG must be JSON such as"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}),
     "task index 2 is outside its 2 workers"),
    (json.dumps({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker",
                                                                 "index": "first"}}),
     "task index 'first' is not a worker number \\(0 to 1\\)"),
])
def test_multiworker_explains_a_missing_or_bad_tf_config(
    config: str | None, match: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(ValueError, match=match):
        tlkit.make_strategy("multiworker")


def test_each_pass_is_ordered_by_seed_and_epoch_not_by_pass_count(tmp_path: Path) -> None:
    paths = []
    for i in range(12):
        path = tmp_path / f"{i}.png"
        Image.fromarray(np.full((4, 4, 3), i * 20, "uint8")).save(path)
        paths.append(str(path))
    images = tlkit.ImageSet(paths, np.arange(12) % 3, ["a", "b", "c"])
    epoch = tf.Variable(0, dtype=tf.int64)

    def one_pass(dataset: tf.data.Dataset) -> list[int]:
        return [int(round(float(image[0, 0, 0]) / 20)) for batch, _ in dataset
                for image in batch.numpy()]

    dataset = images.to_dataset(5, image_size=4, shuffle=True, seed=3, epoch=epoch)
    assert int(dataset.cardinality()) == 3  # Keras can count the steps of an epoch
    first = one_pass(dataset)
    epoch.assign(1)
    second = one_pass(dataset)
    assert sorted(first) == sorted(second) == list(range(12)) and first != second
    # A new pipeline (a resumed run) at epoch 1 reads the order of epoch 1, not of epoch 0.
    assert one_pass(images.to_dataset(5, image_size=4, shuffle=True, seed=3, epoch=epoch)) \
        == second
    epoch.assign(0)
    assert one_pass(dataset) == first
    with pytest.raises(ValueError, match="epoch orders the shuffle"):
        images.to_dataset(5, image_size=4, shuffle=False, epoch=epoch)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"strategy": "spread"}, "Received: name='spread'"),
    ({"strategy": 3}, "strategy must be a tf.distribute.Strategy"),
    ({"callbacks": ["print"]}, "callbacks must be a sequence of keras.callbacks.Callback"),
    ({"backup_dir": 7}, "backup_dir must be None or a folder path"),
])
def test_train_names_a_bad_strategy_callback_or_backup_dir(kwargs: dict, match: str,
                                                          tmp_path: Path) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        tlkit.train(tmp_path, weights=None, verbose=0, **kwargs)

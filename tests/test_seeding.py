"""EpochSeeds: every random layer's draws come from (seed, epoch), so a resumed fit repeats."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tlkit import AugmentationLayer, AugmentationPolicy, ClassifierHead
from tlkit.seeding import EpochSeeds


def augmenting_model() -> tuple[keras.Model, AugmentationLayer, ClassifierHead]:
    augment = AugmentationLayer(AugmentationPolicy.preset("strong", seed=0))
    head = ClassifierHead(3, hidden_units=(8,), dropout=0.3)
    inputs = keras.Input((16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(augment(inputs)))
    return keras.Model(inputs, head(pooled)), augment, head


def states(model: keras.Model) -> list[np.ndarray]:
    return [np.array(state.numpy()) for state in EpochSeeds.generators_of(model)]


def test_the_generators_of_augmentation_and_dropout_are_found_inside_their_layers() -> None:
    model, augment, head = augmenting_model()
    found = {id(state) for state in EpochSeeds.generators_of(model)}
    expected = [step.seed_generator.state for step in augment.steps
                if hasattr(step, "seed_generator")]
    expected += [layer.seed_generator.state for layer in head.hidden_layers + [head.final_dropout]
                 if isinstance(layer, keras.layers.Dropout)]
    assert len(expected) >= 3  # geometry, a Keras colour layer, two dropouts at least
    assert {id(state) for state in expected} <= found


def test_each_epoch_starts_from_its_own_states_whatever_ran_before() -> None:
    model, _, _ = augmenting_model()
    epoch = tf.Variable(0, dtype=tf.int64)
    callback = EpochSeeds(seed=5, epoch_variable=epoch)
    callback.set_model(model)
    callback.on_epoch_begin(2)
    at_two = states(model)
    assert int(epoch.numpy()) == 2
    model(np.ones((2, 16, 16, 3), "float32"), training=True)  # draws: the states move on
    assert any((a != b).any() for a, b in zip(states(model), at_two, strict=True))
    callback.on_epoch_begin(2)
    assert all((a == b).all() for a, b in zip(states(model), at_two, strict=True))
    callback.on_epoch_begin(3)
    assert all((a != b).any() for a, b in zip(states(model), at_two, strict=True))
    assert len({tuple(state) for state in at_two}) == len(at_two)  # each layer its own stream
    other = EpochSeeds(seed=6)
    other.set_model(model)
    other.on_epoch_begin(2)
    assert all((a != b).any() for a, b in zip(states(model), at_two, strict=True))


def fitted_weights(resume: bool) -> list[np.ndarray]:
    """Two epochs in one fit(), or one and then a second fit() from epoch 1 after the
    generators were moved on (as a new process, or the head's training, would leave them)."""
    keras.utils.set_random_seed(0)
    model, _, _ = augmenting_model()
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    fit = dict(batch_size=4, shuffle=False, verbose=0)
    if not resume:
        model.fit(x, y, epochs=2, callbacks=[EpochSeeds(seed=1)], **fit)
        return model.get_weights()
    model.fit(x, y, epochs=1, callbacks=[EpochSeeds(seed=1)], **fit)
    for state in EpochSeeds.generators_of(model):
        state.assign(np.array([123, 45], dtype=state.dtype))
    model.fit(x, y, initial_epoch=1, epochs=2, callbacks=[EpochSeeds(seed=1)], **fit)
    return model.get_weights()


def test_a_second_fit_from_epoch_one_ends_where_one_fit_of_two_epochs_does() -> None:
    for got, want in zip(fitted_weights(resume=True), fitted_weights(resume=False),
                         strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    (dict(seed=-1), ValueError, "seed must be an int >= 0"),
    (dict(seed=0, epoch_variable=3), TypeError, "epoch_variable"),
])
def test_bad_arguments_are_named(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        EpochSeeds(**kwargs)

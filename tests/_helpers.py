"""Helpers shared by the tests."""

from __future__ import annotations

import keras
import numpy as np

from tlkit import freeze, unfreeze


def calibrate_batch_norm(backbone: keras.Model, x: np.ndarray) -> None:
    """Give a random (``weights=None``) backbone batch-norm statistics of real activations.

    With the default statistics (mean 0, variance 1) a random MobileNetV2 is not
    normalized: its activations shrink layer after layer to about 1e-13, its features
    are all but constant and most gradients vanish, which never happens with
    pretrained weights. One training-mode pass with momentum 0 sets every moving mean
    and variance to the batch statistics of ``x``; the backbone ends frozen.
    """
    bns = [layer for layer in backbone.get_layer(index=2).layers
           if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [bn.momentum for bn in bns]
    unfreeze(backbone, "all", train_bn=True)
    for bn in bns:
        bn.momentum = 0.0
    backbone(x, training=True)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    freeze(backbone)


class Interrupt(keras.callbacks.Callback):
    """Stop a fit() at the start of an epoch, as a killed process would."""

    def __init__(self, at_epoch: int) -> None:
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.at_epoch:
            raise RuntimeError("simulated interruption")


def tiny_backbone(input_shape: tuple[int, int, int], weights: str | None = None) -> keras.Model:
    """A user's own backbone for the registry tests: a stem and two blocks of convolutions."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.Conv2D(12, 3, strides=2, padding="same", name="block1_conv")(x)
    x = keras.layers.BatchNormalization(name="block1_bn")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="block2_conv")(x)
    model = keras.Model(inputs, x)
    if weights is not None:
        model.load_weights(weights)
    return model


TINY_SPEC_KWARGS = {
    "name": "tiny_test_net",
    "constructor": tiny_backbone,
    "preprocessing": "torch",
    "default_size": 32,
    "feature_dim": 16,
    "num_blocks": 3,
    "min_size": 8,
    "block_rules": ((r"^stem_", "stem"), (r"^block(\d+)_", r"block\1")),
    "description": "A 3-block test network registered by the tests.",
}

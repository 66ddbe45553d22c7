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

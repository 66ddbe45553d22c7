"""Random numbers drawn from the epoch, so that a resumed ``fit()`` repeats the original.

A model's random layers (augmentation, dropout) draw from Keras ``SeedGenerator`` states,
which advance with every batch and are not part of the weights:
``keras.callbacks.BackupAndRestore`` brings the weights and the epoch back but not these
states, so a run resumed at epoch 2 augments and drops out differently from the run that
was never stopped, and ends at other weights. :class:`EpochSeeds` sets every generator of
the model at the start of each epoch from ``(seed, epoch, its position in the model)``:
each epoch's draws then depend on the epoch alone, not on how many this process ran.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tlkit._checks import check_int, type_error

__all__ = ["EpochSeeds"]

# Keras names the state of every keras.random.SeedGenerator so (the generator's own name
# is not on it); the tests check that the generators of tlkit's random layers are found.
_STATE_NAME = "seed_generator_state"


def epoch_state(seed: int, epoch: int, position: int) -> np.ndarray:
    """The state a generator starts an epoch from: ``[key, 0]`` (the counter at zero).

    The key mixes the three numbers through NumPy's ``SeedSequence``, so that nearby
    seeds, epochs and positions give unrelated streams.
    """
    key = np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0]
    return np.array([key, 0], dtype=np.int64)


class EpochSeeds(keras.callbacks.Callback):
    """Start every epoch's random draws from ``(seed, epoch)``, so a resumed run repeats.

    Put it before the callbacks that read the model's random layers; with
    ``keras.callbacks.BackupAndRestore`` anywhere in the list, a run stopped after epoch
    ``k`` and resumed draws the same augmentations and dropout masks in epoch ``k + 1`` as
    the run that was never stopped (:func:`tlkit.train` does this).

    Args:
        seed: Seed of the run (an ``int >= 0``).
        epoch_variable: Optional integer variable set to the epoch's index when the epoch
            begins, for an input pipeline that shuffles by epoch (as
            :meth:`tlkit.ImageSet.to_dataset` does with ``epoch=``).

    Raises:
        ValueError: If ``seed`` is not an ``int >= 0``.
        TypeError: If ``epoch_variable`` has no ``assign`` method.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((64,)), keras.layers.Dropout(0.5)])
        >>> x = np.ones((1, 64), "float32")
        >>> def first_mask(epoch):
        ...     callback = EpochSeeds(seed=0)
        ...     callback.set_model(model)  # fit() does this
        ...     callback.on_epoch_begin(epoch)
        ...     return model(x, training=True).numpy()
        >>> bool((first_mask(3) == first_mask(3)).all())  # the epoch decides
        True
        >>> bool((first_mask(3) == first_mask(4)).all())
        False
        >>> len(EpochSeeds(seed=0).generators_of(model))
        1
    """

    def __init__(self, seed: int, epoch_variable: Any = None) -> None:
        super().__init__()
        self.seed = check_int("seed", seed, minimum=0)
        if epoch_variable is not None and not hasattr(epoch_variable, "assign"):
            raise type_error("epoch_variable", epoch_variable,
                             "an integer variable (tf.Variable or keras.Variable) or None")
        self.epoch_variable = epoch_variable

    @staticmethod
    def generators_of(model: keras.Model) -> list[Any]:
        """The state variables :class:`EpochSeeds` sets in ``model``, in its order.

        Args:
            model: A built Keras model.

        Returns:
            One ``(2,)`` integer variable per random generator (augmentation layers,
            dropout), nested models included; empty for a model without randomness.

        Example:
            >>> import keras
            >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
            >>> EpochSeeds.generators_of(model)
            []
        """
        found: dict[int, Any] = {}
        for variable in model.variables:  # each once, also inside nested models
            if variable.name == _STATE_NAME and tuple(variable.shape) == (2,):
                found.setdefault(id(variable), variable)
        return list(found.values())

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Set the generators (and the epoch variable) for epoch ``epoch``."""
        if self.epoch_variable is not None:
            self.epoch_variable.assign(epoch)
        for position, state in enumerate(self.generators_of(self.model)):
            state.assign(epoch_state(self.seed, epoch, position).astype(state.dtype))

"""Learning-rate schedules and optimizer surgery for fine-tuning.

:class:`ShiftedSchedule` continues a schedule in a fresh optimizer; the helpers find
an optimizer's rate (inside a ``LossScaleOptimizer`` too) and give a model a new
optimizer built for its current trainable variables (what :class:`tlkit.GradualUnfreeze`
needs when blocks are unfrozen during ``fit()``).
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["ShiftedSchedule"]


def inner_and_rate(optimizer: keras.optimizers.Optimizer) -> tuple[Any, Any]:
    """The optimizer that holds the rate (inside a LossScaleOptimizer) and its rate or schedule."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return inner, getattr(inner, "_learning_rate", None)


def learning_rate_value(optimizer: keras.optimizers.Optimizer) -> float | None:
    """The optimizer's constant learning rate, or ``None`` when it follows a schedule."""
    inner, rate = inner_and_rate(optimizer)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return None
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


@keras.saving.register_keras_serializable(package="tlkit")
class ShiftedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule continued by a fresh optimizer, and optionally scaled.

    :class:`GradualUnfreeze` replaces the optimizer when it unfreezes blocks; the
    new optimizer counts its steps from 0, so the schedule is read at
    ``step + offset`` to continue where it was, times ``scale``.

    Args:
        schedule: The original schedule.
        offset: Steps the original optimizer had taken.
        scale: Factor applied to the schedule's rate.

    Example:
        >>> base = keras.optimizers.schedules.ExponentialDecay(1.0, 10, 0.5)
        >>> shifted = ShiftedSchedule(base, offset=10, scale=0.1)
        >>> round(float(shifted(0)), 4)
        0.05
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule,
        offset: int = 0,
        scale: float = 1.0,
    ) -> None:
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule
        self.offset = int(offset)
        self.scale = float(scale)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32") + float(self.offset)
        return self.schedule(step) * self.scale

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "offset": self.offset,
            "scale": self.scale,
        }


def replace_optimizer(model: keras.Model, scale: float, *,
                      position: int | None = None) -> keras.optimizers.Optimizer:
    """Give ``model`` a fresh optimizer of the same kind, built for its trainable variables.

    A learning-rate schedule continues at ``position`` steps from its start when given
    (resume-safe: computed from the epoch), else where the old optimizer left it.
    """
    old = model.optimizer
    old_inner, old_rate = inner_and_rate(old)
    # Variables of the new optimizer must live in the model's tf.distribute strategy.
    with model.distribute_strategy.scope():
        new = keras.optimizers.deserialize(keras.optimizers.serialize(old))
        new_inner, _ = inner_and_rate(new)
        if isinstance(old_rate, keras.optimizers.schedules.LearningRateSchedule):
            steps = int(keras.ops.convert_to_numpy(old_inner.iterations))
            if isinstance(old_rate, ShiftedSchedule):
                offset = old_rate.offset + steps if position is None else position
                shifted = ShiftedSchedule(old_rate.schedule, offset, old_rate.scale * scale)
            else:
                shifted = ShiftedSchedule(old_rate, steps if position is None else position,
                                          scale)
            new_inner.learning_rate = shifted
        else:
            rate = float(keras.ops.convert_to_numpy(old_inner.learning_rate))
            new_inner.learning_rate = rate * scale
        new.build(model.trainable_variables)
        # Mixed precision: keep the loss scale the old optimizer had grown or shrunk to,
        # or the new one would start again from initial_scale (and skip steps to find it).
        for name in ("dynamic_scale", "step_counter"):
            if hasattr(old, name) and hasattr(new, name):
                getattr(new, name).assign(getattr(old, name))
    model.optimizer = new
    # Keras saves the optimizer given to compile(); point that record at the new one so a
    # saved model restores this optimizer (and its schedule), not the replaced one.
    compile_config = getattr(model, "_compile_config", None)
    if compile_config is not None and "optimizer" in getattr(compile_config, "config", {}):
        compile_config.config["optimizer"] = new
    return new


def scale_learning_rate(optimizer: keras.optimizers.Optimizer, scale: float) -> None:
    """Multiply a constant learning rate by ``scale`` in place."""
    inner, rate = inner_and_rate(optimizer)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            "lr_scale cannot rescale a learning-rate schedule in place; use a float "
            "learning rate or lr_scale=1.0."
        )
    inner.learning_rate = float(keras.ops.convert_to_numpy(inner.learning_rate)) * scale

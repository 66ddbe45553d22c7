"""Learning-rate schedules and optimizer surgery for fine-tuning.

:class:`ShiftedSchedule` continues a schedule in an optimizer whose step count started
again; the helpers find an optimizer's rate (inside a ``LossScaleOptimizer`` too), give a
model an optimizer built for given variables, and set an optimizer's state back to a fresh
one's in place (what :class:`tlkit.GradualUnfreeze` needs when blocks are unfrozen during
``fit()``).
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
    """A learning-rate schedule continued after its optimizer started again, optionally scaled.

    :class:`GradualUnfreeze` starts the optimizer afresh when it unfreezes blocks; its
    step count starts again from 0, so the schedule is read at ``step + offset`` to
    continue where it was, times ``scale``.

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


def replace_optimizer(model: keras.Model,
                      variables: list[Any]) -> keras.optimizers.Optimizer:
    """Give ``model`` a fresh optimizer of the same kind and settings, built for ``variables``.

    The step count and a mixed-precision loss scale carry over, so a learning-rate
    schedule continues where it was.
    """
    old = model.optimizer
    old_inner, _ = inner_and_rate(old)
    # Variables of the new optimizer must live in the model's tf.distribute strategy.
    with model.distribute_strategy.scope():
        new = keras.optimizers.deserialize(keras.optimizers.serialize(old))
        new.build(variables)
        new_inner, _ = inner_and_rate(new)
        new_inner.iterations.assign(old_inner.iterations)
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


def optimizer_for(model: keras.Model, variables: list[Any]) -> None:
    """Make the model's optimizer one built for exactly ``variables``, in that order.

    An unbuilt optimizer is built for them; one built for other variables is replaced
    (:func:`replace_optimizer`); one built for these is kept with its state.
    """
    inner, _ = inner_and_rate(model.optimizer)
    built = getattr(inner, "_trainable_variables", None)  # Keras 3's own record
    if not model.optimizer.built:
        with model.distribute_strategy.scope():
            model.optimizer.build(variables)
    elif built is None or [id(v) for v in built] != [id(v) for v in variables]:
        replace_optimizer(model, variables)


def restart_optimizer(model: keras.Model, variables: list[Any]) -> None:
    """Set the optimizer's state (moments, step count) back to that of a fresh one, in place.

    ``variables`` are those it was built for. Its variables are kept, so a backup of
    them (``BackupAndRestore``) loads back into the same optimizer; a mixed-precision
    loss scale and the learning rate are left as they are.
    """
    inner, _ = inner_and_rate(model.optimizer)
    with model.distribute_strategy.scope():
        fresh = keras.optimizers.deserialize(keras.optimizers.serialize(inner))
        fresh.build(variables)
    rate = getattr(inner, "_learning_rate", None)
    for current, initial in zip(inner.variables, fresh.variables, strict=True):
        if current is not rate:
            current.assign(initial)


def starting_point(optimizer: keras.optimizers.Optimizer) -> tuple[int, Any]:
    """The optimizer's step count and its rate: a schedule, or a float for a constant."""
    inner, rate = inner_and_rate(optimizer)
    if not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        rate = float(keras.ops.convert_to_numpy(inner.learning_rate))
    return int(keras.ops.convert_to_numpy(inner.iterations)), rate


def set_learning_rate(optimizer: keras.optimizers.Optimizer, base: Any, scale: float,
                      offset: int | None) -> None:
    """Give ``optimizer`` the rate ``base`` (a float or a schedule) times ``scale``.

    A schedule is read ``offset`` steps on (:class:`ShiftedSchedule`), or as it is
    (unscaled) when ``offset`` is ``None``.
    """
    inner, _ = inner_and_rate(optimizer)
    if not isinstance(base, keras.optimizers.schedules.LearningRateSchedule):
        inner.learning_rate = base * scale
    else:
        inner.learning_rate = base if offset is None else ShiftedSchedule(base, offset, scale)

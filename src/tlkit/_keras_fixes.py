"""Private: two fixes that let Keras 3's ``fit()`` run under MultiWorkerMirroredStrategy.

As released (checked with Keras 3.15 and TensorFlow 2.21), ``model.fit`` fails on the
first step of any multi-worker run, TensorFlow's own tutorial included
(keras-team/keras#20585, tensorflow/tensorflow#72388):

1. ``TensorFlowTrainer._maybe_symbolic_build`` reads the first batch and averages it
   across the workers, eagerly, to learn its shapes; the collective ``reduce`` cannot
   take the per-replica batch there ("Attempt to convert a value (PerReplica...)").
   The fix builds from the dataset's ``element_spec``: shapes and dtypes, no data read
   (reading a batch also started a pass, so a dataset that reshuffles every pass
   trained on another order than in one process).
2. ``reduce_per_replica`` averages the step's logs across the workers along axis 0, but
   the logs (loss, metrics) are scalars ("Invalid reduction dimension 0 for input with
   0 dimensions"). The fix averages them without an axis.

Both change only what fails today: the first runs only when a strategy is set and then
needs nothing but shapes, the second only under a multi-worker collective strategy.

They replace Keras internals process-wide, so :func:`enable_multi_worker_fit` applies them
only where that is known to be right: on a tested Keras (:data:`TESTED_KERAS`), and each
only if a probe shows its bug. The probes call the original functions with stand-ins (a
strategy object that claims to be multi-worker and records what it is asked to reduce, a
per-replica batch): no cluster, no data, no patching, and no TensorFlow operation (the
runtime must not start before a ``MultiWorkerMirroredStrategy`` is created). On any other Keras, or if the
functions are missing or behave otherwise, nothing is patched and a warning names the
Keras version and what was not patched.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

TESTED_KERAS = ("3.15",)
"""Keras releases (major.minor) the fixes were written for and tested with."""

FIXES = {
    "build": "TensorFlowTrainer._maybe_symbolic_build (reads and all-reduces the first batch)",
    "reduce": "reduce_per_replica (averages scalar logs along axis 0 across workers)",
}

_ENABLED = False


class _ProbeExtended:
    def _in_multi_worker_mode(self) -> bool:
        return True


class _ProbeStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """Passes for a multi-worker strategy in Keras' checks and records what it reduces."""

    def __init__(self) -> None:  # no cluster: nothing of the real strategy is set up
        self._extended = _ProbeExtended()
        self.reduced: list[tuple[Any, Any]] = []

    def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
        self.reduced.append((value, axis))
        return value

    def scope(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class _ProbeValue(tf.distribute.DistributedValues):
    """A per-replica value, as a multi-worker dataset iterator yields."""


def _probe_build(trainer: Any) -> bool:
    """Whether ``_maybe_symbolic_build`` all-reduces a per-replica batch (bug 1)."""
    strategy = _ProbeStrategy()

    class Model:
        _distribute_strategy = strategy
        distribute_strategy = strategy

        def _symbolic_build(self, data_batch: Any = None) -> None:
            pass

    batch = (_ProbeValue(), _ProbeValue())

    def iterator() -> Iterator[tuple[int, int, Iterator[Any]]]:
        yield 0, 0, iter([batch])

    trainer.TensorFlowTrainer._maybe_symbolic_build(Model(), iterator=iterator())
    return any(value is batch for value, _ in strategy.reduced)


def _probe_reduce(trainer: Any) -> bool:
    """Whether ``reduce_per_replica`` averages a scalar along axis 0 (bug 2)."""
    strategy = _ProbeStrategy()
    # A NumPy scalar, not a tensor: a tensor would start TensorFlow's runtime, after which
    # a MultiWorkerMirroredStrategy can no longer be created.
    trainer.reduce_per_replica({"loss": np.float32(1.0)}, strategy, "auto")
    return [axis for _, axis in strategy.reduced] == [0]


def _is_tested(version: str) -> bool:
    match = re.match(r"(\d+)\.(\d+)(\.|$)", version)
    return match is not None and f"{match[1]}.{match[2]}" in TESTED_KERAS


def _warn(version: str, names: list[str], reason: str) -> None:
    listed = "; ".join(FIXES[name] for name in names)
    warnings.warn(
        f"tlkit did not patch Keras {version} for multi-worker fit(): {reason}. Not "
        f"patched: {listed}. fit() under MultiWorkerMirroredStrategy may fail on its first "
        f"step (keras-team/keras#20585); tlkit's fixes are tested with Keras "
        f"{', '.join(v + '.x' for v in TESTED_KERAS)}.",
        RuntimeWarning, stacklevel=3)


def enable_multi_worker_fit() -> bool:
    """Apply the fixes this Keras needs (once); return whether it needs no other.

    ``True`` when every fix whose bug the probes show is in place; ``False``, with a
    :class:`RuntimeWarning` naming the Keras version and what is not patched, on an
    untested Keras or one whose internals are not the expected ones.
    """
    global _ENABLED
    if _ENABLED:
        return True
    version = keras.version()
    try:
        from keras.src.backend.tensorflow import trainer
        trainer_class = trainer.TensorFlowTrainer
        original_reduce = trainer.reduce_per_replica
        is_multi_worker = trainer._collective_all_reduce_multi_worker
        trainer_class._maybe_symbolic_build  # noqa: B018 - present?
        found = [name for name, probe in (("build", _probe_build), ("reduce", _probe_reduce))
                 if probe(trainer)]
    except Exception as error:  # noqa: BLE001 - another layout or behaviour: leave it alone
        _warn(version, list(FIXES), f"its internals are not the ones the fixes were written "
                                    f"for ({type(error).__name__}: {error})")
        return False
    if not _is_tested(version):
        if found:
            reason = "it is not a tested version, and probes show the bugs still there"
        else:
            reason = "it is not a tested version (probes no longer show the bugs)"
        _warn(version, list(FIXES), reason)
        return False
    if len(found) < len(FIXES):
        missing = [name for name in FIXES if name not in found]
        _warn(version, missing, "a probe no longer shows the bug it fixes")

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        adapter = getattr(iterator, "data_adapter", None)
        if adapter is not None:
            # Building needs the batch's shapes and dtypes only: take them from the
            # dataset's element_spec instead of reading a batch. (Reading one started a
            # pass over the data, so a dataset that reshuffles every pass trained on
            # its second order: not the one a single process sees.)
            data_batch = adapter.get_tf_dataset().element_spec
        elif iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: self.distribute_strategy.experimental_local_results(
                        value)[0] if isinstance(value, tf.distribute.DistributedValues)
                    else value, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and is_multi_worker(strategy):
            # The step's logs are scalars: average them across workers without an axis.
            return tf.nest.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original_reduce(values, strategy, reduction)

    if "build" in found:
        trainer_class._maybe_symbolic_build = maybe_symbolic_build
    if "reduce" in found:
        trainer.reduce_per_replica = reduce_per_replica
    _ENABLED = True
    return len(found) == len(FIXES)

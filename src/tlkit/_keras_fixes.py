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
:func:`enable_multi_worker_fit` applies them once; it does nothing if this Keras lacks
the functions (a later release may have changed or fixed them).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

_ENABLED = False


def enable_multi_worker_fit() -> bool:
    """Apply both fixes (once); return whether they are in place."""
    global _ENABLED
    if _ENABLED:
        return True
    try:
        from keras.src.backend.tensorflow import trainer
    except ImportError:  # another Keras layout: nothing to fix here
        return False
    original_reduce = getattr(trainer, "reduce_per_replica", None)
    is_multi_worker = getattr(trainer, "_collective_all_reduce_multi_worker", None)
    trainer_class = getattr(trainer, "TensorFlowTrainer", None)
    if original_reduce is None or is_multi_worker is None or \
            not hasattr(trainer_class, "_maybe_symbolic_build"):
        return False

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

    trainer_class._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    _ENABLED = True
    return True

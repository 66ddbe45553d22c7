"""Training on several devices or machines: strategies by name, and who writes.

``"multiworker"`` is TensorFlow's ``MultiWorkerMirroredStrategy``: one process per worker,
each told the cluster and its own place in it by the ``TF_CONFIG`` environment variable,
gradients averaged by collective all-reduce after every step. Keras 3.15's ``fit()`` does
not run under it as released (keras-team/keras#20585); :func:`make_strategy` applies the
two fixes of :mod:`tlkit._keras_fixes` first (on a tested Keras, 3.15.x; on another it
patches nothing and warns).
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

from tlkit._checks import check_choice, check_number, type_error
from tlkit._constants import STRATEGIES  # defined without TensorFlow
from tlkit._keras_fixes import enable_multi_worker_fit

__all__ = ["STRATEGIES", "is_chief", "make_strategy", "worker_index"]


def make_strategy(name: str = "default", *, timeout_seconds: float | None = None,
                  ) -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy by name.

    Args:
        name: ``"default"`` (this process's devices, no distribution), ``"mirrored"``
            (every local device, one process) or ``"multiworker"`` (one process per
            worker, the cluster read from ``TF_CONFIG``).
        timeout_seconds: ``"multiworker"`` only: how long a collective waits for the
            other workers before it fails (default: forever). A worker that died then
            fails the others instead of leaving them waiting, so a job scheduler can
            restart them all and ``BackupAndRestore`` resumes.

    Returns:
        The strategy.

    Raises:
        ValueError: An unknown name, or ``"multiworker"`` without a usable ``TF_CONFIG``.

    Example:
        >>> make_strategy("default").num_replicas_in_sync
        1
        >>> make_strategy("spread")
        Traceback (most recent call last):
        ...
        ValueError: Unknown name: expected one of default, mirrored, multiworker. Received: name='spread'.
    """
    check_choice("name", name, STRATEGIES)
    if timeout_seconds is not None:
        timeout_seconds = check_number("timeout_seconds", timeout_seconds, low=0.0,
                                       low_inclusive=False)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    _check_tf_config(os.environ.get("TF_CONFIG"))
    enable_multi_worker_fit()
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _check_tf_config(text: str | None) -> None:
    expected = ('JSON such as {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}')
    if not text:
        raise ValueError(f"strategy 'multiworker' needs the TF_CONFIG environment variable: "
                         f"{expected}, set for each worker with its own index.")
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        index = config["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG must be {expected}. Received: TF_CONFIG={text!r} "
                         f"({type(error).__name__}: {error}).") from None
    try:
        index = int(index)
    except (TypeError, ValueError):
        raise ValueError(f"TF_CONFIG's task index {index!r} is not a worker number (0 to "
                         f"{len(workers) - 1}). Received: TF_CONFIG={text!r}.") from None
    if not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG's task index {index} is outside its {len(workers)} "
                         f"workers. Received: TF_CONFIG={text!r}.")


def worker_index(strategy: tf.distribute.Strategy | None = None) -> int:
    """This process's place among the workers (0 outside a multi-worker cluster).

    Args:
        strategy: The strategy (default: the current one).

    Example:
        >>> worker_index()
        0
    """
    resolver = getattr(_strategy(strategy), "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None)
    return int(task_id) if task_id is not None else 0


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """Whether this process writes the results: the ``chief`` task, or worker 0 of a
    cluster without one, or any process outside a multi-worker cluster.

    Args:
        strategy: The strategy (default: the current one).

    Example:
        >>> is_chief()
        True
    """
    resolver = getattr(_strategy(strategy), "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() if resolver else {})
    return task_type == "worker" and not has_chief and worker_index(strategy) == 0


def _strategy(strategy: Any) -> tf.distribute.Strategy:
    if strategy is None:
        return tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise type_error("strategy", strategy, "a tf.distribute.Strategy")
    return strategy


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """The :data:`STRATEGIES` name of ``strategy`` (its class name if it has none)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multiworker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        return "default"
    return type(strategy).__name__


def resolve_strategy(strategy: Any) -> tf.distribute.Strategy:
    """A strategy from :func:`tlkit.train`'s ``strategy`` argument: a name, an object or
    ``None`` (the current one); the Keras fixes are applied for a multi-worker one."""
    if strategy is None:
        return tf.distribute.get_strategy()
    if isinstance(strategy, str):
        return make_strategy(strategy)
    strategy = _strategy(strategy)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        enable_multi_worker_fit()
    return strategy

"""Training curves of one or more ``fit()`` calls, with the start of fine-tuning marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tlkit._checks import type_error

__all__ = ["plot_history"]


def plot_history(
    history: Any,
    *,
    fine_tune_epoch: int | None = None,
    metrics: Sequence[str] = ("loss", "accuracy"),
    ax: Axes | Sequence[Axes] | None = None,
) -> list[Axes]:
    """Plot Keras training curves: one panel per metric, training and validation.

    Args:
        history: A ``keras.callbacks.History`` (what ``fit()`` returns), its
            ``.history`` dict, or a pandas DataFrame with one column per metric.
        fine_tune_epoch: 0-based epoch where fine-tuning started; a vertical line
            marks it.
        metrics: Metrics to plot (those missing from ``history`` are skipped).
        ax: One Axes per metric shown (or one Axes for one metric) to draw into;
            default: a new figure with one panel per metric.

    Returns:
        The Axes drawn into, one per metric shown.

    Raises:
        TypeError: ``history`` is none of the accepted types.
        ValueError: None of ``metrics`` is in ``history``, or ``ax`` has another number
            of Axes than there are metrics to show.

    Example:
        >>> axes = plot_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
        ...                      "accuracy": [0.5, 0.7, 0.8]}, fine_tune_epoch=2)
        >>> [ax.get_title() for ax in axes]
        ['loss', 'accuracy']
    """
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        data = dict(history.history)
    elif isinstance(history, pd.DataFrame):
        data = {c: history[c].tolist() for c in history.columns}
    elif isinstance(history, Mapping):
        data = dict(history)
    else:
        raise type_error("history", history, "a keras History, a dict or a DataFrame")
    shown = [m for m in metrics if m in data]
    if not shown:
        raise ValueError(f"history has none of the metrics {list(metrics)}; it has {sorted(data)}.")
    if ax is None:
        figure = Figure(figsize=(5.0 * len(shown), 3.8))
        axes = list(figure.subplots(1, len(shown), squeeze=False)[0])
    else:
        axes = [ax] if isinstance(ax, Axes) else list(ax)
        if len(axes) != len(shown):
            raise ValueError(
                f"ax must hold one Axes per metric shown ({len(shown)}: {shown}). "
                f"Received: {len(axes)} Axes."
            )
    for panel, metric in zip(axes, shown):
        train = np.asarray(data[metric], dtype=float)
        epochs = np.arange(1, len(train) + 1)
        panel.plot(epochs, train, "o-", markersize=3, label="train")
        if f"val_{metric}" in data:
            val = np.asarray(data[f"val_{metric}"], dtype=float)
            panel.plot(np.arange(1, len(val) + 1), val, "s-", markersize=3, label="validation")
        if fine_tune_epoch is not None:
            panel.axvline(fine_tune_epoch + 0.5, color="gray", linestyle="--", linewidth=1,
                          label="fine-tuning starts")
        panel.set_title(metric)
        panel.set_xlabel("epoch")
        panel.grid(alpha=0.3)
        panel.legend()
    axes[0].figure.tight_layout()
    return axes

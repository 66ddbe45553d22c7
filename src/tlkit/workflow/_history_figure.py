"""Private: a run's training curves as a reader needs them (``history.png``).

Both phases on one time axis (wall-clock seconds when the run recorded them, so the few
long fine-tuning epochs get the room they took, not 2 points of 32), each phase shaded and
named, the lowest loss label smoothing allows, and the saved model's own validation
figure (after WiSE-FT, test-time augmentation and calibration), which is not the last
epoch's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

_FINE = "fine-tuning\n(augmented images)"


def smoothing_floor(label_smoothing: float, classes: int) -> float:
    """The lowest cross-entropy a model can reach against label-smoothed targets (their
    entropy): the training loss cannot go below it, however right the model is.

    Example:
        >>> round(smoothing_floor(0.1, 101), 3)  # Caltech-101: the loss stays above 0.78
        0.779
        >>> smoothing_floor(0.0, 101)
        0.0
    """
    if label_smoothing <= 0 or classes < 2:
        return 0.0
    high = 1 - label_smoothing + label_smoothing / classes
    low = label_smoothing / classes
    return float(-(high * math.log(high) + (classes - 1) * low * math.log(low)))


def _positions(run: Any, frozen: int, total: int) -> tuple[np.ndarray, str, float | None]:
    """x of each epoch's end: wall seconds when known (each phase's epochs spread evenly
    over its time), else epoch numbers; and where fine-tuning starts."""
    wall = run.metrics.get("wall_seconds") or {}
    head = wall.get("feature_extraction", 0.0) + wall.get("head_training", 0.0)
    fine = wall.get("fine_tuning", 0.0)
    if head > 0 and (fine > 0 or frozen == total):
        x = [head * (i + 1) / max(frozen, 1) for i in range(frozen)]
        x += [head + fine * (i + 1) / max(total - frozen, 1) for i in range(total - frozen)]
        return np.array(x), "wall-clock seconds (features extracted once, then epochs)", head
    return np.arange(1, total + 1, dtype=float), "epoch", frozen + 0.5 if frozen < total else None


def history_figure(run: Any) -> list[Axes]:
    """Loss and accuracy of both phases of ``run`` (see the module docstring)."""
    history = run.history
    frozen = int((history["phase"] != "fine-tuning").sum()) if "phase" in history else 0
    x, label, split = _positions(run, frozen, len(history))
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    axes = list(figure.subplots(1, 2))
    saved = run.metrics.get("validation_accuracy")
    wall = run.metrics.get("wall_seconds") or {}
    frozen_words = (f"frozen backbone: features\nextracted once"
                    + (f" ({wall['feature_extraction']:.0f} s)" if "feature_extraction" in wall
                       else "") + f",\nthen {frozen} epochs of the head"
                    + (f" ({wall['head_training']:.0f} s)" if "head_training" in wall else "")
                    + "\n(train accuracy on features\nof un-augmented images)")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        if metric not in history:
            continue
        ax.plot(x, history[metric], "o-", markersize=3, label="train")
        if f"val_{metric}" in history:
            ax.plot(x, history[f"val_{metric}"], "s-", markersize=3, label="validation")
        if split is not None and frozen:
            ax.axvspan(0, split, color="#e8e8e8", zorder=0)
            ax.axvspan(split, x[-1], color="#fdebd0", zorder=0)
            where = ax.get_xaxis_transform()  # x in data, y in axes: clear of the curves
            box = {"facecolor": "white", "alpha": 0.7, "edgecolor": "none"}
            ax.text(split / 2, 0.5, frozen_words, ha="center", va="center", fontsize=8,
                    transform=where, bbox=box)
            if len(x) > frozen:
                ax.text((split + x[-1]) / 2, 0.5, _FINE, ha="center", va="center", fontsize=8,
                        transform=where, bbox=box)
        ax.set_title(metric)
        ax.set_xlabel(label)
        ax.set_xlim(0, x[-1] * 1.02)
        ax.grid(alpha=0.3)
    floor = smoothing_floor(run.options.label_smoothing, len(run.class_names))
    if floor > 0:
        axes[0].axhline(floor, color="#555555", linestyle=":", linewidth=1.2,
                        label=f"lowest loss with label smoothing {run.options.label_smoothing:g}")
    if saved is not None:
        steps = [name for name, used in (
            ("WiSE-FT", run.options.wise_alpha not in (None, 1.0) and len(x) > frozen),
            ("flip average", run.options.tta), ("calibrated", run.options.calibrate)) if used]
        axes[1].plot([x[-1]], [saved], "*", color="#d62728", markersize=13, zorder=5,
                     label=f"saved model: {100 * saved:.1f} % validation"
                           + (f"\n({', '.join(steps)})" if steps else ""))
    for ax in axes:
        ax.legend(fontsize=8, loc="lower center" if ax is axes[1] else "upper right")
    return axes

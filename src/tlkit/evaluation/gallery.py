"""Pictures of the misclassified images: thumbnails for the HTML page and a figure grid.

Images are read with Pillow, whatever their mode (grayscale, CMYK, RGBA and palette
images become RGB), and shrunk to thumbnails; a file that cannot be read is drawn as an
empty tile named by its reason, never an error, because the report must still be written.
"""

from __future__ import annotations

import base64
import io
import os

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image, UnidentifiedImageError

from tlkit._checks import check_int
from tlkit.evaluation.metrics import ReportMetrics

__all__ = ["plot_mistakes", "thumbnail", "thumbnail_uri"]


def thumbnail(path: str | os.PathLike[str], size: int = 160) -> Image.Image | str:
    """An RGB thumbnail of the image at ``path`` no larger than ``size`` pixels a side, or
    the reason it could not be read (a string)."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
            picture = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        return f"unreadable: {type(error).__name__}"
    picture.thumbnail((size, size))
    return picture


def thumbnail_uri(path: str | os.PathLike[str], size: int = 160) -> str | None:
    """A JPEG thumbnail as a ``data:`` URI (so one HTML file holds its images), or ``None``
    when the file cannot be read."""
    picture = thumbnail(path, size)
    if isinstance(picture, str):
        return None
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _tile(ax: Axes, path: str, size: int, title: str, color: str = "black") -> None:
    """One image (or why it could not be read) titled, without ticks."""
    picture = thumbnail(path, size)
    if isinstance(picture, str):
        ax.text(0.5, 0.5, picture, ha="center", va="center", fontsize=8)
    else:
        ax.imshow(np.asarray(picture))
    ax.set_title(title, fontsize=9, color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_mistakes(report: ReportMetrics, *, n: int = 12, columns: int = 4) -> list[Axes]:
    """The ``n`` most confident mistakes as a grid of images (fastai's ``plot_top_losses``).

    Each tile is titled with the true class, the predicted class and its probability.

    Args:
        report: A report built with ``paths`` (see :class:`tlkit.EvaluationReport`).
        n: Mistakes shown (fewer when the report has fewer).
        columns: Tiles per row.

    Returns:
        One Axes per tile shown (``axes[0].figure`` is the figure); an empty list when
        nothing was misclassified.

    Raises:
        ValueError: The report does not know its image files (built without ``paths``).

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> from tlkit import EvaluationReport
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> paths = [folder / f"{i}.png" for i in range(3)]
        >>> for i, path in enumerate(paths):
        ...     Image.fromarray(np.full((20, 30, 3), 80 * i, "uint8")).save(path)
        >>> report = EvaluationReport([0, 1, 1], [[0.9, 0.1], [0.7, 0.3], [0.2, 0.8]],
        ...                           class_names=["cat", "dog"], paths=paths)
        >>> [ax.get_title() for ax in plot_mistakes(report)]
        ['true: dog\\npredicted: cat (70 %)']
    """
    n = check_int("n", n, minimum=1)
    columns = check_int("columns", columns, minimum=1)
    if report.paths is None:
        raise ValueError("plot_mistakes needs the image files: build the report with "
                         "paths=[one file per row] (tlkit.train and TrainingRun.evaluate do).")
    wrong = report.mistakes(n)
    if wrong.empty:
        return []
    rows = int(np.ceil(len(wrong) / columns))
    figure = Figure(figsize=(2.6 * min(columns, len(wrong)), 2.9 * rows), layout="constrained")
    axes = figure.subplots(rows, min(columns, len(wrong)), squeeze=False).ravel()
    for ax, row in zip(axes, wrong.itertuples()):
        confidence = f" ({100 * row.confidence:.0f} %)" if hasattr(row, "confidence") else ""
        _tile(ax, row.path, 256, f"true: {row.true}\npredicted: {row.predicted}{confidence}")
    for ax in axes[len(wrong):]:
        ax.remove()
    return list(axes[: len(wrong)])


def plot_sample(report: ReportMetrics, *, n: int = 16, columns: int = 8,
                seed: int = 0) -> list[Axes]:
    """``n`` images picked at random, right and wrong alike, titled with the answer (green
    when right; red with the true class when wrong): what "right" looks like, too.

    Args:
        report: A report built with ``paths``.
        n: Images shown (all of them when the report has fewer).
        columns: Tiles per row.
        seed: Seed of the random pick (the same report draws the same sample).

    Returns:
        One Axes per tile.

    Raises:
        ValueError: The report does not know its image files.
    """
    n = check_int("n", n, minimum=1)
    columns = check_int("columns", columns, minimum=1)
    if report.paths is None:
        raise ValueError("plot_sample needs the image files: build the report with paths=.")
    table = report.predictions
    pick = np.sort(np.random.default_rng(seed).choice(len(table), min(n, len(table)),
                                                      replace=False))
    shown = table.iloc[pick]
    columns = min(columns, len(shown))
    rows = int(np.ceil(len(shown) / columns))
    figure = Figure(figsize=(1.9 * columns, 2.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, row in zip(axes, shown.itertuples()):
        confidence = f" {100 * row.confidence:.0f} %" if hasattr(row, "confidence") else ""
        title = f"{row.predicted}{confidence}" + ("" if row.correct else f"\n(true: {row.true})")
        _tile(ax, row.path, 192, title, "#1a7f37" if row.correct else "#d62728")
    for ax in axes[len(shown):]:
        ax.remove()
    return list(axes[: len(shown)])

"""TrainingRun: what :func:`tlkit.train` returns, saved as one run folder and loaded back.

A run folder holds ``model.keras``, ``model_card.json`` (:class:`tlkit.ModelCard`: how
the model answers), ``labels.txt``, ``config.json`` (backbone, weights, options, versions), ``metrics.json``, ``history.csv`` and ``history.png``,
``augmentation_preview.png``, ``split.csv`` (each image's path relative to the data root
that ``config.json`` records, its class and split) and
``report/`` (the test report, or the validation report when there is no test split). :meth:`TrainingRun.load` reads it back to predict and
evaluate without training again.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.axes import Axes

from tlkit._checks import check_bool, check_pixels, type_error
from tlkit._environment import versions
from tlkit._predict import labels_by_name, predict_with_labels, prediction_table
from tlkit.calibration import find_head
from tlkit.data import ImageFolder, ImageSet, Split
from tlkit.evaluation import EvaluationReport, plot_history
from tlkit.model_card import ModelCard
from tlkit.workflow._history_figure import history_figure
from tlkit.workflow._run_files import carried_files, data_root_of, preview_images, read_split
from tlkit.workflow.distribute import is_chief
from tlkit.workflow.options import TrainingOptions

__all__ = ["RUN_FILES", "TrainingRun"]

RUN_FILES = ("model.keras", "labels.txt", "config.json", "model_card.json", "metrics.json",
             "history.csv", "history.png", "augmentation_preview.png", "split.csv", "report")
"""What a run folder holds; the first three are needed to load it."""


class TrainingRun:
    """A trained classifier with everything known about how it was made.

    Args:
        model: The Keras model (raw pixels in ``[0, 255]`` to class probabilities).
        class_names: One name per output.
        options: The :class:`TrainingOptions` it was trained with.
        backbone: Registry name of its backbone.
        weights: The weights it started from (``"imagenet"``, a path, or ``None``).
        history: One row per epoch of both phases (a ``phase`` column tells which).
        reports: ``{"validation": EvaluationReport, "test": ...}`` (those computed).
        metrics: Figures of the run (accuracy, wall seconds per phase, images/s, memory).
        split: The train / validation / test images, if known (for the augmentation
            preview, int8 calibration in :func:`tlkit.export_model`, re-evaluation).

    Attributes:
        model: The Keras model.
        class_names: Class names, in output order.
        options: The training options.
        backbone: The backbone's registry name.
        weights: The starting weights.
        history: Training curves (a DataFrame).
        reports: Evaluation reports by split name.
        metrics: Run figures (JSON-serializable).
        split: The images of each split, or ``None``.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
        ...                           keras.layers.Dense(2, activation="softmax")])
        >>> run = TrainingRun(model, ["cat", "dog"])
        >>> run.class_names, run.options.seed
        (['cat', 'dog'], 0)
    """

    def __init__(self, model: keras.Model, class_names: Sequence[str], *,
                 options: TrainingOptions | None = None, backbone: str = "",
                 weights: str | None = None, history: pd.DataFrame | None = None,
                 reports: dict[str, EvaluationReport] | None = None,
                 metrics: dict[str, Any] | None = None, split: Split | None = None) -> None:
        if not isinstance(model, keras.Model):
            raise type_error("model", model, "a keras.Model")
        self.model = model
        self.class_names = list(class_names)
        self.options = options if options is not None else TrainingOptions()
        self.backbone = backbone
        self.weights = weights
        self.history = history if history is not None else pd.DataFrame()
        self.reports = dict(reports or {})
        self.metrics = dict(metrics or {})
        self.split = split
        self.source: Path | None = None  # the run folder it was loaded from, if any
        self._saved_card: ModelCard | None = None  # the card it was loaded with, if any

    def __repr__(self) -> str:
        shown = {k: round(v, 4) for k, v in self.metrics.items()
                 if k.endswith("accuracy") and isinstance(v, float)}
        return (f"TrainingRun({self.backbone or self.model.name}, {len(self.class_names)} "
                f"classes, {shown})")

    @property
    def temperature(self) -> float | None:
        """The temperature in the model's head (``1.0``: uncalibrated; ``None``: no
        :class:`tlkit.ClassifierHead` in the model)."""
        head = find_head(self.model)
        return None if head is None else head.temperature

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` the model takes."""
        return tuple(int(s) for s in self.model.input_shape[1:3])  # type: ignore[return-value]

    @property
    def card(self) -> ModelCard:
        """The :class:`tlkit.ModelCard` of the run's model (written as ``model_card.json``).

        Its test-time rule is the run's: with ``options.tta``, "flip average by the
        predictor" (:meth:`predict_proba` averages each image and its mirror).
        """
        root = data_root_of(self.split)
        saved = self._saved_card  # versions and date of the model, not of this process
        return ModelCard(
            self.class_names, self.image_size, format="keras", resize=self.options.resize,
            test_time_augmentation="flip average by the predictor" if self.options.tta
            else "none", temperature=self.temperature, backbone=self.backbone,
            weights=self.weights, data_root=root,
            split="split.csv" if self.split is not None and root is not None else None,
            versions=saved.versions if saved is not None else versions(),
            **({"saved": saved.saved} if saved is not None else {}))

    # Saving and loading ------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the run folder (see the module docstring for its files).

        Args:
            directory: Created if needed.
            overwrite: Replace the run files of an earlier run there (other files are
                left alone); otherwise an earlier run is an error and nothing is written.

        Returns:
            The folder.

        Raises:
            FileExistsError: ``directory`` holds a run and ``overwrite`` is false.

        In a multi-worker run (every worker calls ``save``), only the chief writes
        ``directory``; the other workers write to a temporary folder they remove.
        """
        if not is_chief(self.model.distribute_strategy):
            with tempfile.TemporaryDirectory(prefix="tlkit-worker-") as scratch:
                self._write(Path(scratch) / "run", overwrite=False)
            return Path(directory)
        return self._write(Path(directory), overwrite=overwrite)

    def _write(self, folder: Path, *, overwrite: bool) -> Path:
        existing = [n for n in RUN_FILES if (folder / n).exists()]
        if existing and not check_bool("overwrite", overwrite):
            raise FileExistsError(
                f"directory={str(folder)!r} already holds a run ({', '.join(existing)}); pass "
                f"overwrite=True (--overwrite) to replace it, or choose another directory.")
        folder.mkdir(parents=True, exist_ok=True)
        carried = carried_files(self)
        for name in existing:  # only the run's own files: the user's others stay
            path = folder / name
            if name not in carried:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if self.source is not None and self.source.resolve() != folder.resolve():
            for name in carried:  # the other folder's own (older) copy, if any, goes first
                source, target = self.source / name, folder / name
                if target.exists():
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                copy = shutil.copytree if source.is_dir() else shutil.copy2
                copy(source, target)
        self.model.save(folder / "model.keras")
        (folder / "labels.txt").write_text("\n".join(self.class_names) + "\n")
        root = data_root_of(self.split)
        config = {"backbone": self.backbone, "weights": self.weights,
                  "options": self.options.to_dict(), "temperature": self.temperature,
                  "data_root": root, "versions": versions(),
                  "saved": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds")}
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        self.card.write(folder)
        (folder / "metrics.json").write_text(json.dumps(self.metrics, indent=2) + "\n")
        if len(self.history):
            self.history.to_csv(folder / "history.csv")
            self.plot_history()[0].figure.savefig(folder / "history.png", dpi=100)
        if self.split is not None and root is not None:
            # Paths relative to the data root (in config.json): a run folder copied to
            # another machine, or data moved, loads with TrainingRun.load(data_root=).
            pd.DataFrame([{"path": os.path.relpath(os.path.abspath(p), root),
                           "class": self.class_names[y],
                           "split": name}
                          for name, part in zip(("train", "val", "test"), self.split)
                          for p, y in zip(part.paths, part.labels)]).to_csv(
                folder / "split.csv", index=False)
        preview = preview_images(self)
        if preview is not None:
            sample = next(preview.to_dataset(
                4, image_size=self.image_size, resize=self.options.resize).as_numpy_iterator())[0]
            self.options.policy().preview(sample, n=5, labels=[
                self.class_names[y] for y in preview.labels]).savefig(
                folder / "augmentation_preview.png", dpi=72)
        report = self.reports.get("test") or self.reports.get("validation")
        if report is not None:
            links = {"run metrics": "../metrics.json", "configuration": "../config.json",
                     "split of every image": "../split.csv"}
            if len(self.history):
                links["training curves"] = "../history.png"
            report.save(folder / "report", links=links)
        return folder

    def report_context(self, data: str, *, split: str | None = None) -> dict[str, Any]:
        """What a report of this run's model shows on top: model, data, options.

        Args:
            data: The evaluated images in words (e.g. ``"1,736 images of photos/"``).
            split: The split's name (``"test"``), for the page's title.

        Returns:
            The ``context`` for :class:`tlkit.EvaluationReport`.

        Example:
            >>> import keras
            >>> model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(),
            ...                           keras.layers.Dense(2)])
            >>> context = TrainingRun(model, ["cat", "dog"], backbone="tiny", weights=None
            ...                       ).report_context("40 images of pets/", split="test")
            >>> context["title"], context["model"]
            ('Evaluation report: test split', 'tiny, 32 x 32 pixels, 2 classes, weights random (weights=None)')
        """
        tta = self.options.tta
        weights = "random (weights=None)" if self.weights is None else \
            Path(self.weights).name if os.path.sep in str(self.weights) else str(self.weights)
        height, width = self.image_size
        return {"title": "Evaluation report" + (f": {split} split" if split else ""),
                "model": f"{self.backbone or self.model.name}, {height} x {width} pixels, "
                         f"{len(self.class_names)} classes, weights {weights}",
                "data": data,
                "test-time augmentation": "image and its mirror" if tta else "none",
                "training options": self.options.to_dict()}

    def plot_history(self) -> list[Axes]:
        """Training curves of both phases (``history.png``): loss and accuracy on one time
        axis, each phase shaded and named, the loss floor of label smoothing, and the
        saved model's validation accuracy (after WiSE-FT, flip average and calibration).

        Returns:
            Two Axes (loss, accuracy); :func:`tlkit.plot_history` for a history without
            phases.
        """
        if "phase" in self.history and len(self.history):
            return history_figure(self)
        return plot_history(self.history)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *,
             data_root: str | os.PathLike[str] | None = None) -> TrainingRun:
        """Read a run folder written by :meth:`save` (``import tlkit`` registers its layers).

        Args:
            directory: A run folder written by :meth:`save` or ``tlkit train``.
            data_root: Where the run's images are now, if they moved (the folder that
                held them all, recorded as ``data_root`` in ``config.json``); default:
                where they were when the run was saved.

        Raises:
            FileNotFoundError: ``directory`` does not exist.
            ValueError: It is not a run folder (the message names the missing files).
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"directory={str(folder)!r} does not exist or is not a "
                                    f"folder; expected a run folder written by tlkit train.")
        missing = [n for n in RUN_FILES[:3] if not (folder / n).is_file()]
        if missing:
            raise ValueError(f"directory={str(folder)!r} is not a run folder: it has no "
                             f"{', '.join(missing)} (a run folder holds {', '.join(RUN_FILES)}).")
        config = json.loads((folder / "config.json").read_text())
        card = ModelCard.read(folder)  # None for a run saved before cards
        names = card.class_names if card is not None else \
            (folder / "labels.txt").read_text().splitlines()
        metrics = json.loads((folder / "metrics.json").read_text()) \
            if (folder / "metrics.json").is_file() else {}
        history = pd.read_csv(folder / "history.csv", index_col=0) \
            if (folder / "history.csv").is_file() else None
        split = read_split(folder / "split.csv", names, config.get("data_root"), data_root)
        model = keras.saving.load_model(folder / "model.keras")
        run = cls(model, names, options=TrainingOptions.from_dict(config.get("options", {})),
                  backbone=config.get("backbone", ""), weights=config.get("weights"),
                  history=history, metrics=metrics, split=split)
        run.source = folder
        run._saved_card = card  # set by the class's own loader
        if card is not None and tuple(card.image_size) != run.image_size:
            raise ValueError(f"directory={str(folder)!r}: model_card.json says image_size="
                             f"{card.image_size} but model.keras takes {run.image_size}; the "
                             f"files come from different runs.")
        return run

    # Using the model ---------------------------------------------------------------------
    def predict_proba(self, pixels: Any, *, verbose: int = 0, batch_size: int = 64) -> np.ndarray:
        """Class probabilities for pixels, as every prediction of the run makes them.

        The same numbers as :meth:`predict`, :meth:`evaluate` and an export of the run:
        calibrated (the head's temperature) and, with ``options.tta``, the mean of each
        image and its mirror.

        Args:
            pixels: RGB images ``(n, height, width, 3)`` in ``[0, 255]`` at
                :attr:`image_size`.
            batch_size: Images per prediction batch.
            verbose: ``1`` shows a progress bar.

        Raises:
            ValueError: The pixels are not ``(n, h, w, 3)`` at the model's size.
        """
        batch = check_pixels("pixels", pixels, self.image_size)
        dataset = tf.data.Dataset.from_tensor_slices(
            (batch, np.zeros(len(batch), np.int32))).batch(batch_size)
        return predict_with_labels(self.model, dataset, argument="pixels", verbose=verbose,
                                   flip=self.options.tta)[0]

    def predict(self, images: Any, *, top_k: int = 5, batch_size: int = 64,
                verbose: int = 0) -> pd.DataFrame:
        """Class probabilities for image files; unreadable files are reported, not fatal.

        Args:
            images: A file or folder path, a list of them (folders are searched
                recursively, in sorted order), or an :class:`tlkit.ImageSet`.
            top_k: Classes listed per image, most probable first.
            batch_size: Images per prediction batch.
            verbose: ``1`` shows a progress bar.

        Returns:
            One row per file, in order: ``path``, ``class`` and ``probability`` (the
            top class), ``top`` (a list of ``(class, probability)``), ``error`` (why a
            file could not be read; then the other columns are empty).
        """
        def score(good: ImageSet) -> np.ndarray:
            dataset = good.to_dataset(batch_size, image_size=self.image_size,
                                      resize=self.options.resize)
            return predict_with_labels(self.model, dataset, argument="images",
                                       verbose=verbose, flip=self.options.tta)[0]

        return prediction_table(score, self.class_names, images, top_k=top_k)

    def evaluate(self, data: Any, *, batch_size: int = 64, verbose: int = 1) -> EvaluationReport:
        """An :class:`tlkit.EvaluationReport` on another labelled folder of the same classes.

        Args:
            data: A folder with one sub-folder per class (any subset of this run's
                classes), or an :class:`tlkit.ImageSet`.
            batch_size: Images per prediction batch.
            verbose: ``1`` shows progress bars.

        Raises:
            ValueError: ``data`` has class folders this run does not know (named).
        """
        images = data if isinstance(data, ImageSet) else ImageFolder(data, verbose=verbose)
        relabelled = ImageSet(images.paths, labels_by_name(images, self.class_names),
                              self.class_names)
        dataset = relabelled.to_dataset(batch_size, image_size=self.image_size,
                                        resize=self.options.resize)
        source = "an ImageSet" if isinstance(data, ImageSet) else os.path.abspath(data)
        context = self.report_context(f"{len(images):,} images of {source}")
        return EvaluationReport.from_model(self.model, dataset, class_names=self.class_names,
                                           flip_tta=self.options.tta, paths=images.paths,
                                           context=context, verbose=verbose)

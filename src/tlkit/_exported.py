"""Private: what every exported-file predictor shares, given a way to run a batch of pixels.

:class:`tlkit.LiteRTModel`, :class:`tlkit.TensorFlowSavedModel` (and any later runtime)
implement only ``_run`` (float32 pixels at the model's size to the file's outputs); this
base adds the rest of the predictor protocol from the file's model card: the flip rule,
pixel checks, a table of predictions for files and evaluation of a labelled folder
matched by class name. So every door answers with the same rule as the run it came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tlkit._checks import check_names, check_pixels, type_error
from tlkit._predict import labels_by_name, prediction_table
from tlkit._progress import progress_bar
from tlkit.data import ImageFolder, ImageSet
from tlkit.evaluation import EvaluationReport
from tlkit.model_card import ModelCard


class ExportedModel:
    """Base of the predictors of exported files (see the module docstring).

    Subclasses set :attr:`path`, :attr:`card` (from :meth:`_card`), :attr:`runtime` and
    implement :meth:`_run`.
    """

    path: Path
    card: ModelCard
    runtime: str
    _batch = 32  # images per call of _run when predicting files

    @staticmethod
    def _card(path: Path, format: str, image_size: tuple[int, int], outputs: int,
              class_names: list[str] | None) -> ModelCard:
        """The file's card, or one made from what the file itself says; ``class_names``
        given by the caller win over the card's."""
        card = ModelCard.read(path, outputs=outputs)
        if card is None:
            card = ModelCard([str(i) for i in range(outputs)], image_size, format=format)
        if class_names is not None:
            card.class_names = check_names("class_names", class_names)
        if len(card.class_names) != outputs:
            raise ValueError(f"class_names has {len(card.class_names)} names but the model has "
                             f"{outputs} outputs. Received: class_names={card.class_names[:5]}...")
        if tuple(card.image_size) != tuple(image_size):
            raise ValueError(f"The model card of {path} says image_size={card.image_size}, but "
                             f"the model takes {image_size}: the card belongs to another model.")
        return card

    @property
    def class_names(self) -> list[str]:
        """Class names, in output order (from the model card)."""
        return self.card.class_names

    @property
    def image_size(self) -> tuple[int, int]:
        """``(height, width)`` the model takes."""
        return self.card.image_size

    @property
    def resize(self) -> str:
        """How image files are resized to :attr:`image_size` (from the model card)."""
        return self.card.resize

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """The file's outputs for float32 pixels ``(n, h, w, 3)``."""
        raise NotImplementedError

    def predict_proba(self, pixels: Any, *, verbose: int = 0) -> np.ndarray:
        """Class probabilities for pixels ``(n, h, w, 3)`` in ``[0, 255]`` at the model's size.

        The model card's test-time rule applies: a file whose card says "flip average by
        the predictor" is run on each image and its mirror, and the two are averaged.

        Args:
            pixels: RGB images ``(n, height, width, 3)`` in ``[0, 255]`` at :attr:`image_size`.
            verbose: ``1`` shows a progress bar.

        Raises:
            ValueError: The pixels are not ``(n, h, w, 3)`` at the model's size.
        """
        batch = check_pixels("pixels", pixels, self.image_size)
        starts = range(0, len(batch), self._batch)
        parts = []
        for start in progress_bar(starts, total=len(starts), desc=self.runtime, unit="batch",
                                  verbose=verbose):
            x = batch[start:start + self._batch]
            out = self._run(x)
            if self.card.flip_by_predictor:
                out = (out + self._run(x[:, :, ::-1])) / 2.0  # (b, h, w, c): mirror the width
            parts.append(out.astype(np.float32))
        return np.concatenate(parts) if parts else \
            np.zeros((0, len(self.class_names)), np.float32)

    def _predict_images(self, images: ImageSet, *, verbose: int = 0) -> np.ndarray:
        """Class probabilities for readable image files, resized as the card says."""
        if not isinstance(images, ImageSet):
            raise type_error("images", images, "a tlkit ImageSet")
        dataset = images.to_dataset(self._batch, image_size=self.image_size, resize=self.resize)
        parts = [self.predict_proba(x.numpy()) for x, _ in progress_bar(
            dataset, total=int(dataset.cardinality()), desc=self.runtime, unit="batch",
            verbose=verbose)]
        return np.concatenate(parts) if parts else \
            np.zeros((0, len(self.class_names)), np.float32)

    def predict(self, images: Any, *, top_k: int = 5, verbose: int = 0) -> pd.DataFrame:
        """One row per image file, as :meth:`tlkit.TrainingRun.predict` (unreadable files
        get their reason in ``error``).

        Args:
            images: A file or folder path, a list of them, or an :class:`tlkit.ImageSet`.
            top_k: Classes listed per image, most probable first.
            verbose: ``1`` shows a progress bar.
        """
        return prediction_table(lambda good: self._predict_images(good, verbose=verbose),
                                self.class_names, images, top_k=top_k)

    def evaluate(self, data: Any, *, verbose: int = 0) -> EvaluationReport:
        """An :class:`tlkit.EvaluationReport` of this file on labelled images.

        Args:
            data: An :class:`tlkit.ImageSet` or a folder with one sub-folder per class
                (classes matched by name).
            verbose: ``1`` shows progress bars.

        Raises:
            ValueError: ``data`` has classes the model does not know (named).
        """
        images = data if isinstance(data, ImageSet) else ImageFolder(data, verbose=verbose)
        labels = labels_by_name(images, self.class_names)
        scores = self._predict_images(images, verbose=verbose)
        height, width = self.image_size
        card = self.card
        precision = "float32" if card.quantize == "none" else card.quantize
        context = {"title": f"Evaluation report: {self.path.name}",
                   "model": f"{self.path} ({card.format}, {precision} precision, run by "
                            f"{self.runtime}, {height} x {width} pixels)",
                   "data": f"{len(images):,} images"
                           + ("" if isinstance(data, ImageSet) else f" of {os.path.abspath(data)}"),
                   "test-time augmentation": card.test_time_augmentation}
        return EvaluationReport(labels, scores, class_names=self.class_names,
                                paths=images.paths, context=context)

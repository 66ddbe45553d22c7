"""The one-call workflow: :func:`train` a classifier on your own images, get a :class:`TrainingRun`.

Modules: :mod:`~tlkit.workflow.options` (:class:`TrainingOptions`),
:mod:`~tlkit.workflow.train` (:func:`train`) and :mod:`~tlkit.workflow.run`
(:class:`TrainingRun`: save, load, predict, evaluate).
"""

from tlkit.workflow.options import QUICK, TrainingOptions
from tlkit.workflow.run import RUN_FILES, TrainingRun
from tlkit.workflow.train import split_images, train

__all__ = ["QUICK", "RUN_FILES", "TrainingOptions", "TrainingRun", "split_images", "train"]

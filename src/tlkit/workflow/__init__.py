"""The one-call workflow: :func:`train` a classifier on your own images, get a :class:`TrainingRun`.

Modules: :mod:`~tlkit.workflow.options` (:class:`TrainingOptions`),
:mod:`~tlkit.workflow.data` (which images, split how), :mod:`~tlkit.workflow.train`
(:func:`train`, phase by phase), :mod:`~tlkit.workflow.run`
(:class:`TrainingRun`: save, load, predict, evaluate) and
:mod:`~tlkit.workflow.distribute` (strategies by name, which worker writes).
"""

from tlkit.workflow.data import split_images
from tlkit.workflow.distribute import STRATEGIES, is_chief, make_strategy, worker_index
from tlkit.workflow.options import QUICK, TrainingOptions
from tlkit.workflow.run import RUN_FILES, TrainingRun
from tlkit.workflow.train import train

__all__ = ["QUICK", "RUN_FILES", "STRATEGIES", "TrainingOptions", "TrainingRun", "is_chief",
           "make_strategy", "split_images", "train", "worker_index"]

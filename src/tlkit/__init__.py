"""tlkit: transfer-learning components for image classification on Keras 3.

Compose a pretrained backbone, a classifier head, fine-tuning control, class
weights, augmentation and evaluation into a transfer-learning workflow.
"""

from __future__ import annotations

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from tlkit.augment import AugmentationLayer, AugmentationPolicy  # noqa: E402
from tlkit.backbones import (  # noqa: E402
    BackboneSpec,
    Preprocessing,
    backbone_blocks,
    build_backbone,
    get_backbone_spec,
    list_backbones,
)
from tlkit.class_weights import class_counts, compute_class_weights  # noqa: E402
from tlkit.data import ImageFolder, ImageSet, Split  # noqa: E402
from tlkit.evaluation import EvaluationReport, plot_history  # noqa: E402
from tlkit.features import extract_features, feature_extractor, fit_head  # noqa: E402
from tlkit.finetune import GradualUnfreeze, ShiftedSchedule, freeze, unfreeze  # noqa: E402
from tlkit.heads import ClassifierHead, build_classifier  # noqa: E402
from tlkit.interpolation import WeightInterpolation  # noqa: E402

__version__ = "0.1.0.dev0"

__all__ = [
    "AugmentationLayer",
    "AugmentationPolicy",
    "BackboneSpec",
    "ClassifierHead",
    "EvaluationReport",
    "ImageFolder",
    "ImageSet",
    "GradualUnfreeze",
    "Preprocessing",
    "ShiftedSchedule",
    "Split",
    "WeightInterpolation",
    "__version__",
    "backbone_blocks",
    "build_backbone",
    "build_classifier",
    "class_counts",
    "compute_class_weights",
    "extract_features",
    "feature_extractor",
    "fit_head",
    "freeze",
    "get_backbone_spec",
    "list_backbones",
    "plot_history",
    "unfreeze",
]

"""tlkit: transfer-learning components for image classification on Keras 3.

Compose a pretrained backbone, a classifier head, fine-tuning control, class
weights, augmentation and evaluation into a transfer-learning workflow. Every
public name is importable from here; the module that defines it says what it does.
"""

from __future__ import annotations

import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from tlkit._version import __version__  # noqa: E402
from tlkit.augment import AugmentationLayer, AugmentationPolicy  # noqa: E402
from tlkit.backbones import (  # noqa: E402
    INPUT_NAME,
    POOLINGS,
    BackboneSpec,
    Preprocessing,
    backbone_blocks,
    build_backbone,
    get_backbone_spec,
    list_backbones,
    register_backbone,
    unregister_backbone,
)
from tlkit.calibration import (  # noqa: E402
    Calibration,
    calibrate,
    expected_calibration_error,
    fit_temperature,
)
from tlkit.class_weights import class_counts, compute_class_weights  # noqa: E402
from tlkit.data import ImageFolder, ImageSet, Split, detect_image_format  # noqa: E402
from tlkit.evaluation import (  # noqa: E402
    EvaluationReport,
    plot_confusion_matrix,
    plot_history,
    plot_mistakes,
    plot_per_class_recall,
    plot_reliability,
    save_report,
)
from tlkit.export import EXPORT_FORMATS, QUANTIZATIONS, export_model, inference_model  # noqa: E402
from tlkit.features import extract_features, feature_extractor, fit_head  # noqa: E402
from tlkit.finetune import GradualUnfreeze, freeze, unfreeze  # noqa: E402
from tlkit.heads import ClassifierHead, build_classifier  # noqa: E402
from tlkit.interpolation import WeightInterpolation  # noqa: E402
from tlkit.litert import LiteRTModel  # noqa: E402
from tlkit.schedules import ShiftedSchedule  # noqa: E402
from tlkit.workflow import (  # noqa: E402
    STRATEGIES,
    TrainingOptions,
    TrainingRun,
    is_chief,
    make_strategy,
    train,
    worker_index,
)

__all__ = [
    "EXPORT_FORMATS",
    "INPUT_NAME",
    "POOLINGS",
    "QUANTIZATIONS",
    "STRATEGIES",
    "AugmentationLayer",
    "AugmentationPolicy",
    "BackboneSpec",
    "Calibration",
    "ClassifierHead",
    "EvaluationReport",
    "GradualUnfreeze",
    "ImageFolder",
    "ImageSet",
    "LiteRTModel",
    "Preprocessing",
    "ShiftedSchedule",
    "Split",
    "TrainingOptions",
    "TrainingRun",
    "WeightInterpolation",
    "__version__",
    "backbone_blocks",
    "build_backbone",
    "build_classifier",
    "calibrate",
    "class_counts",
    "compute_class_weights",
    "detect_image_format",
    "expected_calibration_error",
    "export_model",
    "extract_features",
    "feature_extractor",
    "fit_head",
    "fit_temperature",
    "freeze",
    "get_backbone_spec",
    "inference_model",
    "is_chief",
    "list_backbones",
    "make_strategy",
    "plot_confusion_matrix",
    "plot_history",
    "plot_mistakes",
    "plot_per_class_recall",
    "plot_reliability",
    "register_backbone",
    "save_report",
    "train",
    "unfreeze",
    "unregister_backbone",
    "worker_index",
]

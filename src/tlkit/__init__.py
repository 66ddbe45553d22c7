"""tlkit: transfer-learning components for image classification on Keras 3.

Compose a pretrained backbone, a classifier head, fine-tuning control, class
weights, augmentation and evaluation into a transfer-learning workflow. Every
public name is importable from here; the module that defines it says what it does.

``import tlkit`` is lazy (PEP 562): a name is imported from its module the first
time it is used, so importing the package (and ``tlkit --help``) does not import
TensorFlow. Keras still finds tlkit's layers once Keras is imported (see
:mod:`tlkit._registration`), so ``keras.saving.load_model(path)`` after
``import tlkit`` works as before.
"""

from __future__ import annotations

import importlib as _importlib
import os as _os
from typing import TYPE_CHECKING, Any

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from tlkit._registration import register_if_pending as _register_if_pending  # noqa: E402
from tlkit._registration import register_when_keras_is_imported as _register  # noqa: E402
from tlkit._version import __version__  # noqa: E402

if TYPE_CHECKING:  # the same names, for type checkers and editors (imported lazily below)
    from tlkit.auditing import DataAudit, audit, count_near_duplicates
    from tlkit.augment import AugmentationLayer, AugmentationPolicy
    from tlkit.backbones import (
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
    from tlkit.calibration import (
        Calibration,
        calibrate,
        expected_calibration_error,
        fit_temperature,
    )
    from tlkit.class_weights import class_counts, compute_class_weights
    from tlkit.data import ImageFolder, ImageSet, Split, detect_image_format
    from tlkit.evaluation import (
        EvaluationReport,
        plot_confusion_matrix,
        plot_history,
        plot_mistakes,
        plot_per_class_recall,
        plot_reliability,
        save_report,
    )
    from tlkit.export import EXPORT_FORMATS, QUANTIZATIONS, export_model, inference_model
    from tlkit.features import extract_features, feature_extractor, fit_head
    from tlkit.fidelity import measure_fidelity
    from tlkit.finetune import GradualUnfreeze, freeze, unfreeze
    from tlkit.heads import ClassifierHead, build_classifier
    from tlkit.interpolation import WeightInterpolation
    from tlkit.inference import Predictor, load_predictor
    from tlkit.litert import LiteRTModel
    from tlkit.model_card import ModelCard, card_path
    from tlkit.onnx_model import OnnxModel
    from tlkit.ranking import BackboneRanking, rank_backbones
    from tlkit.savedmodel import TensorFlowSavedModel
    from tlkit.schedules import ShiftedSchedule
    from tlkit.seeding import EpochSeeds
    from tlkit.transferability import knn_accuracy, logme_score
    from tlkit.workflow import (
        STRATEGIES,
        TrainingOptions,
        TrainingRun,
        is_chief,
        make_strategy,
        train,
        worker_index,
    )

# Where each public name lives: imported from there on first use (module __getattr__).
_SOURCES: dict[str, tuple[str, ...]] = {
    "tlkit.auditing": ("DataAudit", "audit", "count_near_duplicates"),
    "tlkit.augment": ("AugmentationLayer", "AugmentationPolicy"),
    "tlkit.backbones": ("INPUT_NAME", "POOLINGS", "BackboneSpec", "Preprocessing",
                        "backbone_blocks", "build_backbone", "get_backbone_spec",
                        "list_backbones", "register_backbone", "unregister_backbone"),
    "tlkit.calibration": ("Calibration", "calibrate", "expected_calibration_error",
                          "fit_temperature"),
    "tlkit.class_weights": ("class_counts", "compute_class_weights"),
    "tlkit.data": ("ImageFolder", "ImageSet", "Split", "detect_image_format"),
    "tlkit.evaluation": ("EvaluationReport", "plot_confusion_matrix", "plot_history",
                         "plot_mistakes", "plot_per_class_recall", "plot_reliability",
                         "save_report"),
    "tlkit.export": ("EXPORT_FORMATS", "QUANTIZATIONS", "export_model", "inference_model"),
    "tlkit.features": ("extract_features", "feature_extractor", "fit_head"),
    "tlkit.fidelity": ("measure_fidelity",),
    "tlkit.finetune": ("GradualUnfreeze", "freeze", "unfreeze"),
    "tlkit.heads": ("ClassifierHead", "build_classifier"),
    "tlkit.interpolation": ("WeightInterpolation",),
    "tlkit.inference": ("Predictor", "load_predictor"),
    "tlkit.litert": ("LiteRTModel",),
    "tlkit.model_card": ("ModelCard", "card_path"),
    "tlkit.onnx_model": ("OnnxModel",),
    "tlkit.ranking": ("BackboneRanking", "rank_backbones"),
    "tlkit.savedmodel": ("TensorFlowSavedModel",),
    "tlkit.schedules": ("ShiftedSchedule",),
    "tlkit.seeding": ("EpochSeeds",),
    "tlkit.transferability": ("knn_accuracy", "logme_score"),
    "tlkit.workflow": ("STRATEGIES", "TrainingOptions", "TrainingRun", "is_chief",
                       "make_strategy", "train", "worker_index"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}
# Sub-packages and modules reachable as attributes after a bare ``import tlkit``, as before.
_SUBMODULES = ("auditing", "augment", "backbones", "calibration", "class_weights", "data",
               "datasets", "evaluation", "export", "features", "fidelity", "finetune", "heads",
               "inference", "interpolation", "litert", "model_card", "onnx_model", "ranking",
               "savedmodel", "schedules", "seeding", "transferability", "workflow")

__all__ = [
    "EXPORT_FORMATS",
    "INPUT_NAME",
    "POOLINGS",
    "QUANTIZATIONS",
    "STRATEGIES",
    "AugmentationLayer",
    "AugmentationPolicy",
    "BackboneRanking",
    "BackboneSpec",
    "Calibration",
    "ClassifierHead",
    "DataAudit",
    "EpochSeeds",
    "EvaluationReport",
    "GradualUnfreeze",
    "ImageFolder",
    "ImageSet",
    "LiteRTModel",
    "ModelCard",
    "OnnxModel",
    "Predictor",
    "Preprocessing",
    "ShiftedSchedule",
    "Split",
    "TensorFlowSavedModel",
    "TrainingOptions",
    "TrainingRun",
    "WeightInterpolation",
    "__version__",
    "audit",
    "backbone_blocks",
    "build_backbone",
    "build_classifier",
    "calibrate",
    "card_path",
    "class_counts",
    "compute_class_weights",
    "count_near_duplicates",
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
    "knn_accuracy",
    "list_backbones",
    "load_predictor",
    "logme_score",
    "make_strategy",
    "measure_fidelity",
    "plot_confusion_matrix",
    "plot_history",
    "plot_mistakes",
    "plot_per_class_recall",
    "plot_reliability",
    "rank_backbones",
    "register_backbone",
    "save_report",
    "train",
    "unfreeze",
    "unregister_backbone",
    "worker_index",
]


def __getattr__(name: str) -> Any:
    """A public name (or sub-module), imported on first use and kept."""
    if name in _MODULE_OF:
        value = getattr(_importlib.import_module(_MODULE_OF[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    _register_if_pending()  # the import may have brought Keras in
    return value


def __dir__() -> list[str]:
    """The public names (:data:`__all__`) beside what is already loaded."""
    return sorted(set(globals()) | set(__all__))


_register()

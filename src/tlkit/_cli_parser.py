"""Private: the ``tlkit`` command's argument parser, built without TensorFlow.

``tlkit --help`` and every subcommand's ``--help`` print from here alone, in a blink; the
commands themselves (:mod:`tlkit.cli`) import TensorFlow when they run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tlkit._constants import EXPORT_FORMATS, QUANTIZATIONS, QUICK, STRATEGIES

__all__ = ["_OPTION_FLAGS", "_parser"]


def _points(text: str) -> float:
    """Percentage points in [0, 100] (``--max-drop 0.5``)."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected percentage points, e.g. 0.5") \
            from error
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: expected percentage points in [0, 100]")
    return value


def _units(text: str) -> tuple[int, ...]:
    """``"256,128"`` -> ``(256, 128)``; ``""`` or ``"none"`` -> ``()`` (units, sizes)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ints like '256,128'") from error


def _side(text: str) -> int | None:
    """``"160"`` -> ``160``; ``"none"`` -> ``None`` (the option's default: image_size)."""
    if text.strip().lower() in ("", "none"):
        return None
    try:
        return int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an int like 160 or 'none'") \
            from error


# Flags of the training options: (option, type, default shown in --help, help). Text values
# (the unfreeze schedule, presets) are parsed and checked by TrainingOptions itself, in one
# place. The defaults are written out so that --help needs no TensorFlow (TrainingOptions'
# module imports it); tests/test_cli.py checks them against TrainingOptions().
_OPTION_FLAGS: list[tuple[str, Any, str, str]] = [
    ("image_size", int, "224", "pixels per side the images are resized to"),
    ("batch_size", int, "32", "images per fine-tuning step"),
    ("head_epochs", int, "30", "epochs of the frozen phase on cached features"),
    ("views", int, "0", "augmented views per training image in the feature cache"),
    ("feature_size", _side, "None",
     "image side of the frozen phase's cached features, e.g. 160; None: --image-size"),
    ("finetune_epochs", int, "2", "epochs of fine-tuning through the backbone"),
    ("finetune_sizes", _units, "()",
     "image side of each of the first fine-tuning epochs, e.g. 160 (progressive resizing)"),
    ("unfreeze", str, "0:6",
     "GradualUnfreeze schedule, epoch:blocks pairs, e.g. 0:all or 0:4,1:all"),
    ("head_lr", float, "0.001", "learning rate of the frozen phase"),
    ("finetune_lr", float, "0.0003", "peak learning rate of fine-tuning (cosine decay)"),
    ("warmup_epochs", float, "0.0", "epochs of linear warm-up before the decay"),
    ("wise_alpha", float, "0.7", "share of the fine-tuned weights in the final model (WiSE-FT)"),
    ("label_smoothing", float, "0.1", "label smoothing of the loss in both phases"),
    ("augment", str, "standard", "light, standard, strong or none"),
    ("class_weights", str, "balanced", "balanced, inverse_sqrt, effective_number or none"),
    ("val_fraction", float, "0.1", "share of the training images kept for validation"),
    ("test_fraction", float, "0.2", "share of all images kept for the test report"),
    ("hidden_units", _units, "()",
     "hidden layers of the head, e.g. 256 or 256,128 ('none': linear)"),
    ("dropout", float, "0.2", "dropout of the head"),
    ("resize", str, "stretch", "stretch, crop or pad"),
    ("seed", int, "0", "seed of the split, augmentation and initial weights"),
]


def _parser() -> argparse.ArgumentParser:
    """The whole command line; builds without importing TensorFlow."""
    parser = argparse.ArgumentParser(prog="tlkit", description=(
        "Transfer learning for image classification: train on a folder of images (one "
        "sub-folder per class), evaluate, predict."))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a classifier on a folder of images")
    train.add_argument("folder", type=Path, help="one sub-folder of images per class, or "
                       "train/, val/ (or valid/), test/ folders each with one per class")
    train.add_argument("--output-dir", type=Path, required=True, help="the run folder to write")
    train.add_argument("--backbone", default="mobilenet_v2", help="see `tlkit backbones`")
    train.add_argument("--weights", default="imagenet",
                       help="'imagenet' (Keras download), a weights file, or 'none' (random)")
    train.add_argument("--quick", action="store_true",
                       help=f"a smoke run: {', '.join(f'{k}={v}' for k, v in QUICK.items())}")
    train.add_argument("--overwrite", action="store_true", help="replace a run in --output-dir")
    train.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    train.add_argument("--no-calibrate", action="store_true",
                       help="keep temperature 1 (default: one temperature fitted on the "
                            "validation split, so probabilities match how often it is right)")
    train.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="'mirrored': every local device; 'multiworker': one process per "
                            "worker, cluster in TF_CONFIG (run the same command on each)")
    train.add_argument("--backup-dir", type=Path, default=None,
                       help="back up fine-tuning after every epoch here; run the same "
                            "command again after a crash to resume")
    train.add_argument("--memory-gib", type=float, default=4.0,
                       help="decode the images once into memory when that takes at most "
                            "this many GiB (0: decode the files on every pass)")
    options = train.add_argument_group("training options (default: the flagship's)")
    for name, kind, shown, text in _OPTION_FLAGS:
        options.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                             help=f"{text} (default {shown})")

    evaluate = commands.add_parser("evaluate", help="a report on another labelled folder")
    evaluate.add_argument("run_dir", type=Path, metavar="MODEL",
                        help="a run folder (`tlkit train`), or an exported model: a .tflite or "
                             ".onnx file or a SavedModel folder (`tlkit export`)")
    evaluate.add_argument("folder", type=Path, help="one sub-folder per class (of the run)")
    evaluate.add_argument("--output-dir", type=Path, default=None, help="write the report here")
    evaluate.add_argument("--overwrite", action="store_true")

    predict = commands.add_parser("predict", help="classes of image files")
    predict.add_argument("run_dir", type=Path, metavar="MODEL",
                        help="a run folder (`tlkit train`), or an exported model: a .tflite or "
                             ".onnx file or a SavedModel folder (`tlkit export`)")
    predict.add_argument("images", nargs="+", type=Path, help="image files or folders")
    predict.add_argument("--top-k", type=int, default=3)
    predict.add_argument("--format", choices=["table", "json", "csv"], default="table")

    export = commands.add_parser("export", help="SavedModel or TFLite files for deployment")
    export.add_argument("run_dir", type=Path, help="a run folder written by `tlkit train`")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="tflite")
    export.add_argument("--quantize", choices=QUANTIZATIONS,
                        default="none", help="TFLite precision (int8 and int8-safe: calibrated "
                        "on the run's training images, or --representative; int8-safe keeps the "
                        "layers int8 gets wrong in float)")
    export.add_argument("--output", type=Path, default=None,
                        help="file or folder to write (default: RUN_DIR/export/model_QUANT.tflite, "
                             "RUN_DIR/export/model.onnx or RUN_DIR/export/savedmodel)")
    export.add_argument("--representative", type=Path, default=None,
                        help="a folder of images (one sub-folder per class) to calibrate int8 on")
    export.add_argument("--overwrite", action="store_true")
    export.add_argument("--data-root", type=Path, default=None,
                        help="where the run's images are now, if the run folder or the "
                             "images moved (int8 calibration and the check read them)")
    export.add_argument("--check", choices=["validation", "test", "none"], default="validation",
                        help="run the exported file against the run on these held-out images "
                             "and record what changed in its JSON (default: validation)")
    export.add_argument("--max-drop", type=_points, default=0.5,
                        help="warn when the check loses more accuracy than this, in "
                             "percentage points (default 0.5)")

    audit = commands.add_parser("audit", help="suspect labels, duplicates and outliers of a "
                                "folder (reads it only)")
    audit.add_argument("folder", type=Path, help="one sub-folder of images per class, or "
                       "train/, val/, test/ folders of them")
    audit.add_argument("--output-dir", type=Path, required=True, help="where to write the "
                       "CSV tables, audit.json and index.html")
    audit.add_argument("--backbone", default="mobilenet_v2", help="see `tlkit backbones`")
    audit.add_argument("--weights", default="imagenet",
                       help="'imagenet' (Keras download), a weights file, or 'none' (random)")
    audit.add_argument("--image-size", type=int, default=224, help="pixels per side (default 224)")
    audit.add_argument("--overwrite", action="store_true", help="replace an audit in --output-dir")

    backbones = commands.add_parser("backbones", help="the backbones tlkit can build, or "
                                    "(--rank FOLDER) which suits a folder of images best")
    backbones.add_argument("--rank", type=Path, default=None, metavar="FOLDER",
                           help="rank the candidates for this folder (one sub-folder per "
                                "class) by LogME and k-NN accuracy of their frozen features "
                                "on a sample, before any training")
    backbones.add_argument("--candidates", nargs="+", default=None, metavar="NAME",
                           help="backbones to rank (default: mobilenet_v2 and "
                                "efficientnet_lite0/1/2)")
    backbones.add_argument("--weights", action="append", default=None, metavar="[NAME=]W",
                           help="'imagenet' (default), 'none' or a weights file, for every "
                                "candidate or, as NAME=W, for one (repeat the flag)")
    backbones.add_argument("--sample", type=int, default=1000,
                           help="images scored at most, per class in proportion (default 1000)")
    backbones.add_argument("--image-size", type=int, default=None,
                           help="pixels per side for all (default: each one's native size)")
    backbones.add_argument("--by", choices=["logme", "knn_accuracy"], default="logme",
                           help="the score that orders the table (both are computed)")
    backbones.add_argument("--format", choices=["table", "json"], default="table")
    for command in (train, evaluate, predict, export, audit, backbones):
        command.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                             help="0 quiet, 1 progress bars, 2 one line per epoch "
                                  "(and TensorFlow's own log lines)")
    for command in (train, evaluate, predict, export, audit, backbones):
        command.add_argument("--debug", action="store_true",
                             help="print the traceback of a usage error too")
    return parser

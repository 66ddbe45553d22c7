"""Caltech-101 + ImageNet MobileNetV2: feature extraction, fine-tuning, full evaluation.

The flagship of tlkit, built only from its public API:

1. load and check Caltech-101 (101 classes; BACKGROUND_Google excluded unless asked),
2. stratified train / validation / test split (80/20 train+validation/test),
3. class weights for the imbalance (31 to 800 images per class),
4. frozen phase on cached backbone features (``--views`` adds augmented views),
5. fine-tuning with GradualUnfreeze (all blocks by default), augmentation in the model,
   the result mixed with the weights it started from (WeightInterpolation, WiSE-FT),
6. evaluation on the test split, and every artefact written to --output-dir.

Connected machine (downloads the data and the ImageNet weights)::

    python examples/caltech101_mobilenetv2.py --quick

Offline, with local copies::

    python examples/caltech101_mobilenetv2.py --quick \\
        --data-dir PATH/101_ObjectCategories \\
        --weights PATH/mobilenet_v2_1.0_imagenet_no_top.weights.h5

On a Linux CPU, run it with tcmalloc (``LD_PRELOAD=libtcmalloc_minimal.so.4``, from
Debian's ``libtcmalloc-minimal4``): TensorFlow then stops spending its time in page faults
and fine-tunes about 1.5 times as fast. ``metrics.json`` records the allocator in use.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import tensorflow as tf  # noqa: E402

import tlkit  # noqa: E402
from tlkit.datasets import load_caltech101  # noqa: E402

QUICK = {"classes": 6, "image_size": 128, "head_epochs": 15, "views": 1,
         "finetune_epochs": 1, "unfreeze": "0:2"}


def parse_schedule(text: str) -> dict[int, int | str]:
    """Parse ``"0:4,2:all"`` into ``{0: 4, 2: "all"}``."""
    schedule: dict[int, int | str] = {}
    for item in text.split(","):
        try:
            epoch, blocks = item.split(":")
            schedule[int(epoch)] = blocks.strip() if blocks.strip() == "all" else int(blocks)
        except ValueError as error:
            raise argparse.ArgumentTypeError(
                f"--unfreeze {text!r}: expected 'epoch:blocks' pairs like '0:4,2:all'"
            ) from error
    return schedule


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="local 101_ObjectCategories folder (default: download and cache)")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (Keras download) or a MobileNetV2 no-top weights file")
    parser.add_argument("--output-dir", type=Path, default=Path("runs/caltech101_mobilenetv2"))
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in --output-dir")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--head-epochs", type=int, default=30,
                        help="epochs of the frozen phase (on cached features)")
    parser.add_argument("--views", type=int, default=0,
                        help="augmented views per training image in the feature cache")
    parser.add_argument("--finetune-epochs", type=int, default=3)
    parser.add_argument("--unfreeze", type=parse_schedule, default=parse_schedule("0:all"),
                        help="GradualUnfreeze schedule over the fine-tuning epochs, epoch:blocks")
    parser.add_argument("--wise-alpha", type=float, default=0.7,
                        help="share of the fine-tuned weights in the final model "
                             "(WeightInterpolation); 1.0 keeps them as they are")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--finetune-lr", type=float, default=3e-4)
    parser.add_argument("--warmup-epochs", type=float, default=0.0,
                        help="epochs (may be fractional) over which the fine-tuning rate "
                             "rises linearly from 0 to --finetune-lr before the cosine decay")
    parser.add_argument("--augment", default="standard",
                        choices=tlkit.AugmentationPolicy.presets() + ["none"])
    parser.add_argument("--class-weights", default="balanced",
                        choices=["balanced", "inverse_sqrt", "effective_number", "none"])
    parser.add_argument("--no-tta", action="store_true",
                        help="evaluate without flip test-time augmentation")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="fraction of train+validation kept for validation")
    parser.add_argument("--classes", type=int, default=None,
                        help="use only the first N classes (alphabetical)")
    parser.add_argument("--include-background", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategy", choices=["default", "mirrored", "multiworker"],
                        default="default", help="tf.distribute strategy")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run of about two minutes: {QUICK}")
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.quick:
        defaults = {action.dest: action.default for action in parser._actions}
        for key, value in QUICK.items():
            if getattr(args, key) == defaults.get(key):
                setattr(args, key, parse_schedule(value) if key == "unfreeze" else value)

    for name in ("head_epochs", "finetune_epochs", "image_size", "batch_size"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0.0 <= args.wise_alpha <= 1.0:
        parser.error(f"--wise-alpha must be in [0, 1], got {args.wise_alpha}")
    if not 0.0 <= args.warmup_epochs < args.finetune_epochs:
        parser.error(f"--warmup-epochs must be in [0, --finetune-epochs={args.finetune_epochs}), "
                     f"got {args.warmup_epochs}")
    if args.views < 0:
        parser.error(f"--views must be >= 0, got {args.views}")
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


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    return tf.distribute.get_strategy()


def peak_memory_mb() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage / 1024 if platform.system() != "Darwin" else usage / 2**20


def allocator_in_use() -> str:
    """The malloc this process runs with: "tcmalloc", "jemalloc", "system" or "unknown"."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:  # not Linux
        return "unknown"
    return next((name for name in ("tcmalloc", "jemalloc") if name in maps), "system")


def run(args: argparse.Namespace) -> dict[str, Any]:
    start = time.perf_counter()
    phases: dict[str, float] = {}
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    strategy = make_strategy(args.strategy)
    allocator = allocator_in_use()
    if allocator == "system" and args.verbose and not tf.config.list_physical_devices("GPU"):
        print("tip: on this CPU, LD_PRELOAD=libtcmalloc_minimal.so.4 (Debian package "
              "libtcmalloc-minimal4) makes TensorFlow about 1.5x faster")

    # 1. Data ----------------------------------------------------------------------------------
    t = time.perf_counter()
    folder = load_caltech101(args.data_dir, download=args.data_dir is None,
                             include_background=args.include_background)
    print(folder.summary())
    images: tlkit.ImageSet = folder
    if args.classes:
        images = folder.select_classes(folder.class_names[: args.classes])
    trainval, _, test = images.split(val=0.0, test=args.test_fraction, seed=args.seed)
    train, val, _ = trainval.split(val=args.val_fraction, test=0.0, seed=args.seed)
    names = images.class_names
    k = len(names)
    print(f"split: {len(train)} train, {len(val)} validation, {len(test)} test, {k} classes")
    class_weight = None
    if args.class_weights != "none":
        class_weight = tlkit.compute_class_weights(train.labels, method=args.class_weights,
                                                   num_classes=k)
    policy = None if args.augment == "none" else tlkit.AugmentationPolicy.preset(
        args.augment, seed=args.seed)
    size = (args.image_size, args.image_size)
    if policy is not None:
        sample = next(train.subset(np.arange(0, len(train), max(1, len(train) // 4))[:4])
                      .to_dataset(4, image_size=size).as_numpy_iterator())[0]
        policy.preview(sample, n=5).savefig(out / "augmentation_preview.png", dpi=90)
    phases["data"] = time.perf_counter() - t

    # 2. Frozen phase on cached features ------------------------------------------------------
    t = time.perf_counter()
    with strategy.scope():
        backbone = tlkit.build_backbone("mobilenet_v2", image_size=size,
                                        weights=args.weights)
        head = tlkit.ClassifierHead(k, hidden_units=(), dropout=0.2)
    views = args.views if policy is not None else 0
    x_train, y_train = tlkit.extract_features(backbone, train, batch_size=64, augmented_views=views,
                                        augment=policy, verbose=min(args.verbose, 1))
    x_val, y_val = tlkit.extract_features(backbone, val, batch_size=64, verbose=min(args.verbose, 1))
    phases["feature_extraction"] = time.perf_counter() - t
    t = time.perf_counter()
    head_history = tlkit.fit_head(head, x_train, y_train, epochs=args.head_epochs,
                            learning_rate=args.head_lr, class_weight=class_weight,
                            validation_data=(x_val, y_val), seed=args.seed,
                            verbose=args.verbose)
    phases["head_training"] = time.perf_counter() - t

    # 3. Fine-tuning through the backbone ----------------------------------------------------
    t = time.perf_counter()
    train_ds = train.to_dataset(args.batch_size, image_size=size, shuffle=True, seed=args.seed)
    val_ds = val.to_dataset(64, image_size=size)
    with strategy.scope():
        model = tlkit.build_classifier(backbone, head, augment=policy)
        per_epoch = int(np.ceil(len(train) / args.batch_size))
        warmup = int(round(args.warmup_epochs * per_epoch))
        if warmup:
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=args.finetune_epochs * per_epoch - warmup,
                warmup_target=args.finetune_lr, warmup_steps=warmup)
        else:
            schedule = keras.optimizers.schedules.CosineDecay(
                args.finetune_lr, decay_steps=args.finetune_epochs * per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    unfreezer = tlkit.GradualUnfreeze(backbone, args.unfreeze, verbose=1)
    callbacks: list[keras.callbacks.Callback] = [unfreezer]
    if args.wise_alpha < 1.0:
        callbacks.append(tlkit.WeightInterpolation(args.wise_alpha))
    finetune_history = model.fit(  # train_ds shuffles itself: shuffle=False spares a warning
        train_ds, validation_data=val_ds, epochs=args.finetune_epochs, shuffle=False,
        class_weight=class_weight, callbacks=callbacks, verbose=args.verbose,
    )
    phases["fine_tuning"] = time.perf_counter() - t

    # 4. Evaluation and artefacts --------------------------------------------------------------
    t = time.perf_counter()
    # Validation figures of the final model, for choosing flags without touching the test split.
    val_report = tlkit.EvaluationReport.from_model(model, val_ds, class_names=names,
                                                   flip_tta=not args.no_tta, verbose=0)
    test_ds = test.to_dataset(64, image_size=size)
    report = tlkit.EvaluationReport.from_model(model, test_ds, class_names=names,
                                               flip_tta=not args.no_tta,
                                               verbose=min(args.verbose, 1))
    report.save(out / "report", overwrite=args.overwrite)
    phases["evaluation"] = time.perf_counter() - t
    model.save(out / "model.keras")
    history = pd.concat(
        [pd.DataFrame(head_history.history).assign(phase="frozen (cached features)"),
         pd.DataFrame(finetune_history.history).assign(phase="fine-tuning")],
        ignore_index=True,
    )
    history.index.name = "epoch"
    history.to_csv(out / "history.csv")
    # fine_tune_epoch is 0-based: the first fine-tuning epoch comes after head_epochs epochs.
    axes = tlkit.plot_history(history.drop(columns="phase"), fine_tune_epoch=args.head_epochs)
    axes[0].figure.savefig(out / "history.png", dpi=100)
    config = {key: (str(value) if isinstance(value, Path) else value)
              for key, value in vars(args).items()}
    config["unfreeze"] = {str(e): b for e, b in args.unfreeze.items()}
    config["tlkit"] = tlkit.__version__
    config["tensorflow"] = tf.__version__
    config["keras"] = keras.__version__
    (out / "config.json").write_text(json.dumps(config, indent=2))
    wall = time.perf_counter() - start
    metrics = {
        "test_accuracy": report.accuracy,
        "test_mean_per_class_accuracy": report.balanced_accuracy,
        "test_top5_accuracy": report.top5_accuracy,
        "validation_accuracy": val_report.accuracy,
        "validation_mean_per_class_accuracy": val_report.balanced_accuracy,
        "test_images": len(test),
        "train_images": len(train),
        "validation_images": len(val),
        "classes": k,
        "unfreeze_events": unfreezer.events,
        "wise_alpha": args.wise_alpha,
        "wall_seconds": {**{name: round(v, 1) for name, v in phases.items()},
                         "total": round(wall, 1)},
        "feature_images_per_second": round(
            (len(train) * (1 + views) + len(val)) / phases["feature_extraction"], 1),
        "fine_tuning_images_per_second": round(
            len(train) * args.finetune_epochs / phases["fine_tuning"], 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "allocator": allocator,
        "skipped_files": len(folder.skipped),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(report)
    print(json.dumps({k: v for k, v in metrics.items() if k != "unfreeze_events"}, indent=2))
    return metrics


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run(parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])

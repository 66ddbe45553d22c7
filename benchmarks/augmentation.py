"""Cost of the training augmentation on real Caltech-101 images; prints JSON.

Compares tlkit's "standard" policy (flip, rotation and zoom as one affine resampling)
with the same transforms as Keras' three separate layers, and with no augmentation:
milliseconds per batch for the augmentation alone, and images/s of a fine-tuning step
(augmentation inside the model, top blocks of the backbone trainable), the
configurations alternated within each repeat so that machine drift hits all alike.
Images are decoded into memory first, so the file pipeline is not measured.

    python benchmarks/augmentation.py --data-dir PATH/101_ObjectCategories \
        --backbone efficientnet_lite0 --weights imagenet
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

from tlkit import (  # noqa: E402
    AugmentationPolicy,
    ClassifierHead,
    build_backbone,
    build_classifier,
    unfreeze,
)
from tlkit.datasets import load_caltech101  # noqa: E402


def keras_layers(policy: AugmentationPolicy) -> keras.Sequential:
    """The policy's flip, rotation and zoom as Keras' own layers, one resampling each."""
    return keras.Sequential([
        keras.layers.RandomFlip(policy.flip, seed=0),
        keras.layers.RandomRotation(policy.rotation, fill_mode="reflect", seed=1),
        keras.layers.RandomZoom(policy.zoom, fill_mode="reflect", seed=2),
    ], name="keras_layers")


def in_memory(data_dir: str, count: int, size: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` real images drawn at random (seed 0) from every class, decoded at ``size``."""
    folder = load_caltech101(data_dir, download=False)
    subset = folder.subset(np.random.default_rng(0).permutation(len(folder))[:count])
    pairs = list(subset.to_dataset(batch, image_size=size).as_numpy_iterator())
    return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TLKIT_CALTECH101_DIR"))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--top-blocks", type=int, default=6, help="trainable backbone blocks")
    parser.add_argument("--images", type=int, default=384, help="images per pass")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=4)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if not args.data_dir:
        raise SystemExit("--data-dir (or TLKIT_CALTECH101_DIR) is needed: the Caltech-101 folder")

    x, y = in_memory(args.data_dir, args.images, args.image_size, args.batch_size)
    classes = 102  # Caltech-101's classes and its background class; the head's width only
    policy = AugmentationPolicy.preset("standard", seed=0)
    augmentations = {"keras_layers": keras_layers(policy), "tlkit": policy.as_layer(),
                     "none": None}
    options = tf.data.Options()
    options.autotune.enabled = False  # its re-planning ticks would time the passes
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size) \
        .prefetch(2).with_options(options)

    alone: dict[str, list[float]] = {name: [] for name in augmentations if name != "none"}
    steps: dict[str, list[float]] = {name: [] for name in augmentations}
    calls = {name: tf.function(lambda b, layer=layer: layer(b, training=True))
             for name, layer in augmentations.items() if layer is not None}
    backbone = build_backbone(args.backbone, image_size=args.image_size, weights=args.weights)
    unfreeze(backbone, args.top_blocks)
    models = {}
    for name, layer in augmentations.items():
        model = build_classifier(backbone, ClassifierHead(classes), augment=layer)
        model.compile(optimizer=keras.optimizers.Adam(1e-4),
                      loss="sparse_categorical_crossentropy")
        model.fit(batches.take(2), epochs=1, verbose=0)  # trace and warm up
        models[name] = model
    first = tf.constant(x[:args.batch_size], tf.float32)
    for call in calls.values():
        call(first)
    for repeat in range(args.repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(10):
                call(first).numpy()
            alone[name].append(1000 * (time.perf_counter() - start) / 10)
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(batches, epochs=1, verbose=0)
            steps[name].append(len(x) / (time.perf_counter() - start))
        print(f"repeat {repeat + 1}/{args.repeats}: "
              + ", ".join(f"{k} {v[-1]:.1f} images/s" for k, v in steps.items()),
              file=sys.stderr, flush=True)

    step_median = {k: round(statistics.median(v), 1) for k, v in steps.items()}
    report = {
        "benchmark": "augmentation",
        "backbone": args.backbone,
        "trainable_top_blocks": args.top_blocks,
        "images": len(x),
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "policy": policy.get_config(),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "median_augmentation_ms_per_batch": {k: round(statistics.median(v), 1)
                                             for k, v in alone.items()},
        "median_fine_tuning_images_per_second": step_median,
        "fine_tuning_rate_ratio_to_keras_layers": {
            k: round(v / step_median["keras_layers"], 3) for k, v in step_median.items()},
        "runs_augmentation_ms_per_batch": {k: [round(v, 1) for v in vs]
                                           for k, vs in alone.items()},
        "runs_fine_tuning_images_per_second": {k: [round(v, 1) for v in vs]
                                               for k, vs in steps.items()},
    }
    write_results(report, "augmentation", args.json, overwrite=args.overwrite)
    return report


if __name__ == "__main__":
    main()

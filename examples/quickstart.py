"""Quick start: a frozen ImageNet MobileNetV2 + a tlkit head on a few Caltech-101 classes.

A smoke test of the whole stack in about a minute on a CPU. The full workflow
(fine-tuning, augmentation, class weights, evaluation) is the flagship example,
``examples/caltech101_mobilenetv2.py``, once it lands.

Connected machine (downloads Caltech-101 and the ImageNet weights)::

    python examples/quickstart.py

Offline, with local copies::

    python examples/quickstart.py --data-dir PATH/101_ObjectCategories \
        --weights PATH/mobilenet_v2_1.0_imagenet_no_top.weights.h5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tlkit  # noqa: E402
from tlkit.datasets import fetch_caltech101  # noqa: E402

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="local 101_ObjectCategories folder (default: download to the cache)")
    parser.add_argument("--weights", default="imagenet",
                        help="'imagenet' (download) or a local MobileNetV2 no-top weights file")
    parser.add_argument("--classes", type=int, default=5, help="how many classes to use")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs <= 0:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if not 2 <= args.classes <= 101:
        parser.error(f"--classes must be in [2, 101], got {args.classes}")
    if args.weights != "imagenet" and not Path(args.weights).is_file():
        parser.error(f"--weights {args.weights!r} does not exist (expected 'imagenet' or a file)")
    return args


def load_split(root: Path, class_names: list[str], seed: int) -> tuple[list, list]:
    """Return (train, test) lists of (path, label): 80/20 per class."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label, name in enumerate(class_names):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        rng.shuffle(files)
        cut = max(1, int(round(0.2 * len(files))))
        test += [(str(p), label) for p in files[:cut]]
        train += [(str(p), label) for p in files[cut:]]
    return train, test


def make_dataset(items: list, size: int, shuffle: bool, seed: int) -> tf.data.Dataset:
    paths, labels = zip(*items)

    def decode(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, (size, size))  # float32 pixels in [0, 255]
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
    if shuffle:
        ds = ds.shuffle(len(items), seed=seed)
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(32).prefetch(2)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    tf.keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    root = fetch_caltech101(args.data_dir)
    class_names = sorted(p.name for p in root.iterdir()
                         if p.is_dir() and p.name != "BACKGROUND_Google")[: args.classes]
    train, test = load_split(root, class_names, args.seed)
    print(f"{len(class_names)} classes, {len(train)} train / {len(test)} test images")

    size = args.image_size
    backbone = tlkit.build_backbone("mobilenet_v2", input_shape=(size, size, 3),
                                    weights=args.weights)
    head = tlkit.ClassifierHead(len(class_names), hidden_units=(128,), dropout=0.2)
    model = tlkit.build_classifier(backbone, head)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(make_dataset(train, size, True, args.seed), epochs=args.epochs, verbose=2)
    loss, accuracy = model.evaluate(make_dataset(test, size, False, args.seed), verbose=0)
    result = {"classes": len(class_names), "train_images": len(train),
              "test_images": len(test), "test_accuracy": round(float(accuracy), 4),
              "wall_seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])

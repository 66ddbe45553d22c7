"""Every export format of a trained run side by side: size, accuracy, agreement, latency.

For a run folder (the flagship's, seed 0, by default), on its own test split:

* the Keras model (no test-time augmentation, as the exported files have none): test
  top-1 and mean per-class accuracy, single-image latency of ``predict_on_batch``;
* SavedModel, and TFLite ``none`` (float32), ``float16``, ``dynamic`` and ``int8``:
  file size, test top-1 and mean per-class accuracy and their difference to Keras,
  top-1 agreement with Keras, and single-image latency with 1 and 2 threads (median
  over ``--calls`` calls after ``--warmup`` calls).

    python benchmarks/export.py --run-dir runs/caltech101_mobilenetv2

The JSON also records a calibration figure of the machine (frozen MobileNetV2 forward at
224 px, batch 64, images/s), since absolute times vary 2-3x from day to day here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calibration import calibration_images_per_second  # noqa: E402
from _results import add_output_arguments, write_results  # noqa: E402

import tlkit  # noqa: E402


def latency_ms(call, warmup: int, calls: int) -> float:  # noqa: ANN001
    """Median wall time of one call, in milliseconds."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/caltech101_mobilenetv2"))
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="where the exported files go (default: a temporary folder)")
    add_output_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    run = tlkit.TrainingRun.load(args.run_dir)
    if run.split is None or not len(run.split.test):
        raise SystemExit(f"{args.run_dir}: no test split recorded (split.csv) to measure on")
    test = run.split.test
    print(f"test split: {len(test)} images, {len(test.class_names)} classes", file=sys.stderr)
    calibration = calibration_images_per_second()

    size = run.image_size
    pixels = np.concatenate([x for x, _ in test.to_dataset(64, image_size=size,
                                                           resize=run.options.resize)
                             .as_numpy_iterator()])
    # The run's own answers (calibrated, and with its flip average when it uses one): what
    # every export now reproduces in its graph.
    keras_scores = run.predict_proba(pixels)
    keras_report = tlkit.EvaluationReport(test.labels, keras_scores, class_names=run.class_names)
    one = pixels[:1]
    inference = tlkit.inference_model(run.model, flip_tta=run.options.tta)
    keras_latency = latency_ms(lambda: inference.predict_on_batch(one), args.warmup, args.calls)
    results = [{"format": "keras", "file": "model.keras",
                "size_mb": round((args.run_dir / "model.keras").stat().st_size / 1e6, 3),
                "test_accuracy": keras_report.accuracy,
                "test_mean_per_class_accuracy": keras_report.balanced_accuracy,
                "latency_ms": {"default": keras_latency}}]
    print(f"keras: {keras_report.accuracy:.4f}, {keras_latency} ms", file=sys.stderr)

    out = args.export_dir or Path(tempfile.mkdtemp(prefix="tlkit-export-"))
    saved = tlkit.export_model(run, out / "savedmodel", format="savedmodel",
                               overwrite=args.overwrite)
    loaded = tf.saved_model.load(str(saved))  # kept: its variables live as long as it does
    serve = loaded.serve
    saved_scores = np.concatenate([serve(tf.constant(pixels[i:i + 64])).numpy()
                                   for i in range(0, len(pixels), 64)])
    results.append(_row("savedmodel", saved, saved_scores, test, run, keras_scores,
                        {"default": latency_ms(lambda: serve(tf.constant(one)), args.warmup,
                                               args.calls)}))
    for quantize in tlkit.QUANTIZATIONS:
        start = time.perf_counter()
        path = tlkit.export_model(run, out / f"model_{quantize}.tflite", quantize=quantize,
                                  overwrite=args.overwrite)
        seconds = round(time.perf_counter() - start, 1)
        lite = tlkit.LiteRTModel(path)
        scores = lite.predict_proba(pixels)
        latency = {}
        for threads in (1, 2):
            timed = tlkit.LiteRTModel(path, num_threads=threads)
            latency[f"{threads}_threads"] = latency_ms(lambda: timed.predict_proba(one), args.warmup,
                                                       args.calls)
        row = _row(f"tflite_{quantize}", path, scores, test, run, keras_scores, latency)
        row["export_seconds"] = seconds
        row["calibration_images"] = lite.metadata.get("calibration_images", 0)
        results.append(row)
        print(f"{quantize}: {row['test_accuracy']:.4f} ({row['accuracy_minus_keras']:+.4f}), "
              f"agreement {row['top1_agreement_with_keras']:.4f}, {row['size_mb']} MB, "
              f"{latency}", file=sys.stderr)

    float_size = next(r["size_mb"] for r in results if r["format"] == "tflite_none")
    for row in results:
        if row["format"].startswith("tflite"):
            row["size_ratio_to_float32_tflite"] = round(float_size / row["size_mb"], 3)
    report = {
        "benchmark": "export",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run_dir": str(args.run_dir),
        "test_images": len(test),
        "calibration_frozen_mobilenetv2_224_batch64_images_per_second": calibration,
        "cpu_count": os.cpu_count(),
        "versions": {"tensorflow": tf.__version__, "tlkit": tlkit.__version__},
        "interpreter": tlkit.LiteRTModel(out / "model_none.tflite").runtime,
        "calls": args.calls,
        "warmup": args.warmup,
        "results": results,
    }
    write_results(report, "export", args.json, overwrite=args.overwrite)
    return report


def _row(name: str, path: Path, scores: np.ndarray, test: tlkit.ImageSet, run: tlkit.TrainingRun,
         keras_scores: np.ndarray, latency: dict[str, float]) -> dict:
    report = tlkit.EvaluationReport(test.labels, scores, class_names=run.class_names)
    keras_report = tlkit.EvaluationReport(test.labels, keras_scores, class_names=run.class_names)
    size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
    return {
        "format": name,
        "file": path.name,
        "size_mb": round(size / 1e6, 3),
        "test_accuracy": report.accuracy,
        "test_mean_per_class_accuracy": report.balanced_accuracy,
        "accuracy_minus_keras": round(report.accuracy - keras_report.accuracy, 6),
        "mean_per_class_minus_keras": round(report.balanced_accuracy
                                            - keras_report.balanced_accuracy, 6),
        "top1_agreement_with_keras": float(np.mean(scores.argmax(1) == keras_scores.argmax(1))),
        "latency_ms": latency,
    }


if __name__ == "__main__":
    main()

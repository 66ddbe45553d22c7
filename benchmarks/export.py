"""Every export format of trained runs side by side: size, accuracy, agreement, latency.

For each run folder (the flagship's, seed 0, by default; several for several seeds), on
its own test split:

* the Keras model (no test-time augmentation, as the exported files have none): test
  top-1 and mean per-class accuracy, single-image latency of ``predict_on_batch``;
* SavedModel, and TFLite in every precision of ``tlkit.QUANTIZATIONS``: file size,
  test top-1 and mean per-class accuracy and their difference to Keras, top-1 agreement
  with Keras, the largest probability change, and single-image latency with 1 and 2
  threads (median over ``--calls`` calls after ``--warmup`` calls).

Then, over the runs, the medians of each TFLite precision against the int8 targets of
issue #28: accuracy within 0.3 pt of Keras, top-1 agreement >= 98.5 %, a file at least
3x smaller than float32 TFLite, and 2-thread latency no worse than float16 (the ratio
within each run), each marked met or not.

    python benchmarks/export.py --run-dir runs/seed0 runs/seed1 runs/seed2

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
    parser.add_argument("--run-dir", type=Path, nargs="+",
                        default=[Path("runs/caltech101_mobilenetv2")],
                        help="one or more run folders (e.g. one per seed)")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--formats", nargs="+", default=list(tlkit.EXPORT_FORMATS),
                        choices=tlkit.EXPORT_FORMATS,
                        help="formats to measure (default: all; tflite means every precision)")
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="where the exported files go (default: a temporary folder)")
    add_output_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    calibration = calibration_images_per_second()
    runs = [_measure(run_dir, args, index) for index, run_dir in enumerate(args.run_dir)]
    report = {
        "benchmark": "export",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "run_dirs": [str(d) for d in args.run_dir],
        "calibration_frozen_mobilenetv2_224_batch64_images_per_second": calibration,
        "cpu_count": os.cpu_count(),
        "versions": {"tensorflow": tf.__version__, "tlkit": tlkit.__version__},
        "interpreter": sorted({run.pop("interpreter") or "" for run in runs} - {""}),
        "formats": args.formats,
        "calls": args.calls,
        "warmup": args.warmup,
        "targets": TARGETS,
        "summary": _summary(runs),
        "runs": runs,
    }
    write_results(report, "export", args.json, overwrite=args.overwrite)
    return report


TARGETS = {"abs_accuracy_minus_keras_points_at_most": 0.3, "top1_agreement_at_least": 0.985,
           "size_ratio_to_float32_tflite_at_least": 3.0,
           "latency_2_threads_ratio_to_float16_at_most": 1.0}


def _summary(runs: list[dict]) -> dict:
    """Medians over the runs of each TFLite precision, and the targets met or not."""
    summary = {}
    onnx = [r for run in runs for r in run["results"] if r["format"] == "onnx"]
    if onnx:  # float32 ONNX against the run: agreement, size, latency
        summary["onnx"] = {"runs": len(onnx), "median": {
            "top1_agreement_with_keras": statistics.median(r["top1_agreement_with_keras"]
                                                           for r in onnx),
            "max_probability_change": statistics.median(r["max_probability_change"]
                                                        for r in onnx),
            "size_mb": statistics.median(r["size_mb"] for r in onnx),
            "latency_2_threads_ms": statistics.median(r["latency_ms"]["2_threads"]
                                                      for r in onnx)}}
    if not all(any(r["format"] == "tflite_float16" for r in run["results"]) for run in runs):
        return summary  # TFLite not measured: no precision targets to check
    for quantize in tlkit.QUANTIZATIONS:
        rows = [next(r for r in run["results"] if r["format"] == f"tflite_{quantize}")
                for run in runs]
        float16 = [next(r for r in run["results"] if r["format"] == "tflite_float16")
                   for run in runs]
        median = {
            "accuracy_minus_keras_points": round(statistics.median(
                100 * r["accuracy_minus_keras"] for r in rows), 3),
            "top1_agreement_with_keras": round(statistics.median(
                r["top1_agreement_with_keras"] for r in rows), 5),
            "max_probability_change": round(statistics.median(
                r["max_probability_change"] for r in rows), 4),
            "size_mb": statistics.median(r["size_mb"] for r in rows),
            "size_ratio_to_float32_tflite": statistics.median(
                r["size_ratio_to_float32_tflite"] for r in rows),
            "latency_2_threads_ms": statistics.median(r["latency_ms"]["2_threads"] for r in rows),
            "latency_2_threads_ratio_to_float16": round(statistics.median(
                r["latency_ms"]["2_threads"] / f["latency_ms"]["2_threads"]
                for r, f in zip(rows, float16)), 3),
        }
        median["targets_met"] = {
            "accuracy": abs(median["accuracy_minus_keras_points"])
            <= TARGETS["abs_accuracy_minus_keras_points_at_most"],
            "agreement": median["top1_agreement_with_keras"]
            >= TARGETS["top1_agreement_at_least"],
            "size": median["size_ratio_to_float32_tflite"]
            >= TARGETS["size_ratio_to_float32_tflite_at_least"],
            "latency": median["latency_2_threads_ratio_to_float16"]
            <= TARGETS["latency_2_threads_ratio_to_float16_at_most"],
        }
        summary[f"tflite_{quantize}"] = {"runs": len(rows), "median": median}
    return summary


def _measure(run_dir: Path, args: argparse.Namespace, index: int) -> dict:
    """Every format of one run, on its test split."""
    run = tlkit.TrainingRun.load(run_dir)
    if run.split is None or not len(run.split.test):
        raise SystemExit(f"{run_dir}: no test split recorded (split.csv) to measure on")
    test = run.split.test
    print(f"{run_dir}: test split {len(test)} images, {len(test.class_names)} classes",
          file=sys.stderr)

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
                "size_mb": round((run_dir / "model.keras").stat().st_size / 1e6, 3),
                "test_accuracy": keras_report.accuracy,
                "test_mean_per_class_accuracy": keras_report.balanced_accuracy,
                "latency_ms": {"default": keras_latency}}]
    print(f"keras: {keras_report.accuracy:.4f}, {keras_latency} ms", file=sys.stderr)

    out = (args.export_dir / f"run{index}") if args.export_dir else \
        Path(tempfile.mkdtemp(prefix="tlkit-export-"))
    # check=None: this benchmark measures every file on the whole test split itself.
    if "savedmodel" in args.formats:
        saved = tlkit.export_model(run, out / "savedmodel", format="savedmodel",
                                   overwrite=args.overwrite, check=None)
        loaded = tf.saved_model.load(str(saved))  # kept: its variables live as long as it does
        serve = loaded.serve
        saved_scores = np.concatenate([serve(tf.constant(pixels[i:i + 64])).numpy()
                                       for i in range(0, len(pixels), 64)])
        results.append(_row("savedmodel", saved, saved_scores, test, run, keras_scores,
                            {"default": latency_ms(lambda: serve(tf.constant(one)),
                                                   args.warmup, args.calls)}))
    if "onnx" in args.formats:
        start = time.perf_counter()
        path = tlkit.export_model(run, out / "model.onnx", format="onnx",
                                  overwrite=args.overwrite, check=None)
        seconds = round(time.perf_counter() - start, 1)
        onnx = tlkit.OnnxModel(path)
        latency = {f"{t}_threads": latency_ms(
            lambda timed=tlkit.OnnxModel(path, num_threads=t): timed.predict_proba(one),
            args.warmup, args.calls) for t in (1, 2)}
        row = _row("onnx", path, onnx.predict_proba(pixels), test, run, keras_scores, latency)
        row["export_seconds"] = seconds
        results.append(row)
        print(f"onnx: agreement {row['top1_agreement_with_keras']:.4f}, {latency}",
              file=sys.stderr)
    for quantize in tlkit.QUANTIZATIONS if "tflite" in args.formats else ():
        start = time.perf_counter()
        path = tlkit.export_model(run, out / f"model_{quantize}.tflite", quantize=quantize,
                                  overwrite=args.overwrite, check=None)
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
        row["calibration_images"] = lite.card.details.get("calibration_images", 0)
        if "float_layers" in lite.card.details:
            row["float_layers"] = lite.card.details["float_layers"]
        results.append(row)
        print(f"{quantize}: {row['test_accuracy']:.4f} ({row['accuracy_minus_keras']:+.4f}), "
              f"agreement {row['top1_agreement_with_keras']:.4f}, {row['size_mb']} MB, "
              f"{latency}", file=sys.stderr)

    float_size = next((r["size_mb"] for r in results if r["format"] == "tflite_none"), None)
    for row in results:
        if row["format"].startswith("tflite") and float_size:
            row["size_ratio_to_float32_tflite"] = round(float_size / row["size_mb"], 3)
    return {"run_dir": str(run_dir), "seed": run.options.seed, "test_images": len(test),
            "test_time_augmentation": "flip" if run.options.tta else "none",
            "interpreter": tlkit.LiteRTModel(out / "model_none.tflite").runtime
            if float_size else None, "results": results}


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
        "max_probability_change": round(float(np.abs(scores - keras_scores).max()), 4),
        "latency_ms": latency,
    }


if __name__ == "__main__":
    main()

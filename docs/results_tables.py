"""Write the documentation's result tables from the committed benchmark JSON, never by hand.

    python docs/results_tables.py   # rewrites the docs/_includes/*.inc of TABLES

The front page's "What to expect" table is made from the newest flagship benchmark
(``benchmarks/results/caltech101_mobilenetv2_*.json`` with a ``current`` configuration)
and the newest export benchmark (``benchmarks/results/export_*.json``); the backbones
guide's tables from the newest ``caltech101_current_lite*.json`` (MobileNetV2 and Lite0,
seeds 0-2), ``caltech101_four_backbones_*.json`` (all four) and the export benchmarks of
each backbone's runs (``export_lite0_*.json`` ..., ``export_20*.json`` for MobileNetV2). A
test checks that the committed tables are what this script writes from the committed JSON.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
INCLUDES = ROOT / "docs" / "_includes"


def _dated(pattern: str, wanted: str | None = None) -> Path:
    """The newest JSON matching ``pattern`` (by the date in its name) holding ``wanted``."""
    found = []
    for path in RESULTS.glob(pattern):
        date = re.search(r"\d{4}-\d{2}-\d{2}", path.name)
        if date and (wanted is None or wanted in json.loads(path.read_text()).get("configs", {})):
            found.append((date.group(), path.name, path))
    if not found:
        raise FileNotFoundError(f"no benchmark JSON matches {pattern} in {RESULTS}")
    return max(found)[2]


def _pct(values: list[float]) -> str:
    return f"{100 * statistics.median(values):.1f} %"


def front_results() -> str:
    """The front page's table (reStructuredText)."""
    flagship = _dated("caltech101_mobilenetv2_*.json", "current")
    data = json.loads(flagship.read_text())
    runs = data["configs"]["current"]["runs"]
    seeds = ", ".join(str(r["seed"]) for r in runs)
    walls = [r["wall_seconds"]["total"] for r in runs]
    speed = data.get("calibration_frozen_mobilenetv2_224_batch64_images_per_second")
    speed_words = (f"{speed['before']:g} images/s before and {speed['after']:g} after"
                   if isinstance(speed, dict) else f"{speed:g} images/s")
    rows = [
        ("Test accuracy (top-1)", _pct([r["test_accuracy"] for r in runs])),
        ("Mean per-class accuracy", _pct([r["test_mean_per_class_accuracy"] for r in runs])),
        ("Top-5 accuracy", _pct([r["test_top5_accuracy"] for r in runs])),
        ("Expected calibration error (test)",
         f"{_pct([r['test_expected_calibration_error'] for r in runs])} "
         f"(uncalibrated: {_pct([r['test_expected_calibration_error_uncalibrated'] for r in runs])})"),
        ("Training, whole run (2 CPU cores)",
         f"{statistics.median(walls):,.0f} s (from {min(walls):,.0f} to {max(walls):,.0f} s)"),
        ("Fine-tuning speed", f"{statistics.median(r['fine_tuning_images_per_second'] for r in runs):g} "
                              "images/s"),
    ]
    export = _dated("export_20*.json")  # the TFLite benchmark (export_onnx_* is ONNX only)
    exported = json.loads(export.read_text())
    if "summary" in exported:  # several runs: their medians
        medians = {k: v["median"] for k, v in exported["summary"].items()}
        sizes = {k: (m["size_mb"], m["latency_2_threads_ms"], m["top1_agreement_with_keras"])
                 for k, m in medians.items()}
        over = f" (median of {len(exported['runs'])} runs)"
    else:
        sizes = {r["format"]: (r["size_mb"], r["latency_ms"].get("2_threads"),
                               r.get("top1_agreement_with_keras", 1.0))
                 for r in exported["results"]}
        over = ""
    for key, name in (("tflite_none", "TFLite float32"), ("tflite_int8", "TFLite int8"),
                      ("tflite_int8-safe", "TFLite int8-safe")):
        if key in sizes:
            size, latency, agreement = sizes[key]
            rows.append((f"{name} file, one image on 2 threads{over}",
                         f"{size:.1f} MB, {latency:.1f} ms; agrees with Keras on "
                         f"{100 * agreement:.1f} % of test images"))
    figure = exported.get("calibration_frozen_mobilenetv2_224_batch64_images_per_second")
    export_speed = f", during the export benchmark at {figure:g} images/s" if figure else ""
    body = "\n".join(f"   * - {name}\n     - {value}" for name, value in rows)
    return (
        f".. list-table:: What to expect: Caltech-101 (101 classes, "
        f"{runs[0]['test_images']:,} test images), ImageNet MobileNetV2, tlkit's defaults, "
        f"median of seeds {seeds}\n"
        f"   :header-rows: 0\n   :widths: 40 60\n\n{body}\n\n"
        f"From ``benchmarks/results/{flagship.name}`` "
        f"(``{data['command'].split(' --output-dir')[0]}``)"
        f" and ``benchmarks/results/{export.name}``. The machine is shared and its speed "
        f"varies from day to day: during the training runs it ran frozen MobileNetV2 at "
        f"{speed_words} (224 px, batch 64){export_speed}, so compare times within one "
        f"run, not across days.\n")


BACKBONE_OF = {"current": "mobilenet_v2", "lite0": "efficientnet_lite0",
               "lite1": "efficientnet_lite1", "lite2": "efficientnet_lite2"}


def _list_table(caption: str, header: tuple[str, ...], rows: list[tuple[str, ...]],
                note: str, widths: tuple[int, ...] | None = None) -> str:
    """An RST list-table with its caption, and a line below it (where its figures came from)."""
    body = "\n".join("   * - " + "\n     - ".join(row) for row in [header, *rows])
    shares = "" if widths is None else f"   :widths: {' '.join(map(str, widths))}\n"
    return f".. list-table:: {caption}\n   :header-rows: 1\n{shares}\n{body}\n\n{note}\n"


def _from(source: Path, command: str) -> str:
    return f"From ``benchmarks/results/{source.name}`` (``{command}``)."


def backbone_results() -> str:
    """The backbones guide's table: each backbone of one invocation, seed by seed."""
    source = _dated("caltech101_current_lite*.json", "lite0")  # seeds 0-2, not one-seed runs
    data = json.loads(source.read_text())
    rows = []
    for config, entry in data["configs"].items():
        runs, median = entry["runs"], entry["median"]
        first = next(iter(data["configs"]))
        per_seed = " / ".join(f"{100 * r['test_accuracy']:.2f}" for r in runs)
        rows.append((
            f"``{BACKBONE_OF.get(config, config)}``",
            f"{100 * median['test_accuracy']:.2f} % / "
            f"{100 * median['test_mean_per_class_accuracy']:.2f} %",
            f"{per_seed} %",
            f"{100 * median['validation_accuracy']:.2f} %",
            _pct([r["test_expected_calibration_error"] for r in runs]),
            f"{median['wall_seconds']:,.0f} s "
            f"({median[f'wall_time_ratio_to_{first}']:.2f})"))
    header = ("backbone", "test accuracy / mean per class (median)", "test accuracy by seed",
              "validation accuracy", "test ECE", "wall time (ratio)")
    seeds = ", ".join(str(s) for s in data["seeds"])
    return _list_table(f"Caltech-101, 101 classes, 1,736 test images, tlkit's defaults, "
                       f"seeds {seeds}, one invocation", header, rows,
                       _from(source, data["command"].split(" --output-dir")[0]))


def four_backbones() -> str:
    """The backbones guide's table of all four candidates on the full data, one invocation."""
    source = _dated("caltech101_four_backbones_*.json")
    data = json.loads(source.read_text())
    first = next(iter(data["configs"]))
    rows = []
    for config, entry in data["configs"].items():
        runs, median = entry["runs"], entry["median"]
        # benchmarks/caltech101.py --baseline judged each part of its target already
        target = entry["target"]
        reaches = target["met"]["test_accuracy"] and target["met"]["test_mean_per_class_accuracy"]
        rows.append((
            f"``{BACKBONE_OF.get(config, config)}``",
            f"{100 * median['test_accuracy']:.2f} % / "
            f"{100 * median['test_mean_per_class_accuracy']:.2f} %",
            " / ".join(f"{100 * r['test_accuracy']:.2f}" for r in runs) + " %",
            "yes" if reaches else "no",
            _pct([r["test_expected_calibration_error"] for r in runs]),
            f"{median['wall_seconds']:,.0f} s ({median[f'wall_time_ratio_to_{first}']:.3f})",
            f"{statistics.median(r['wall_seconds']['fine_tuning'] for r in runs):,.0f} s"))
    header = ("backbone", "test accuracy / mean per class (median)", "test accuracy by seed",
              f"reaches {100 * target['target']['test_accuracy']:g} % / "
              f"{100 * target['target']['test_mean_per_class_accuracy']:g} %", "test ECE (median)",
              "median wall time (ratio)", "of it fine-tuning (median)")
    seeds = ", ".join(str(s) for s in data["seeds"])
    return _list_table(f"Caltech-101, 101 classes, 1,736 test images, tlkit's defaults at "
                       f"each backbone's native size, seeds {seeds}, one invocation "
                       f"(each seed's configurations one after another)", header, rows,
                       _from(source, data["command"].split(" --baseline")[0]
                             .split(" --output-dir")[0]))


def int8_backbones() -> str:
    """The backbones guide's int8 table: the exports of each backbone's trained runs."""
    sources = {"mobilenet_v2": _dated("export_20*.json"),  # the flagship's runs
               **{f"efficientnet_lite{i}": _dated(f"export_lite{i}_*.json") for i in range(3)}}
    rows, files = [], []
    for backbone, source in sources.items():
        exported = json.loads(source.read_text())
        summary = {k: v["median"] for k, v in exported["summary"].items()}
        int8, safe = summary["tflite_int8"], summary["tflite_int8-safe"]
        seeds = ", ".join(str(run["seed"]) for run in exported["runs"])
        files.append(f"``{source.name}`` ({backbone}, seeds {seeds})")
        rows.append((
            f"``{backbone}``",
            f"{int8['accuracy_minus_keras_points']:+.2f} pt",
            f"{100 * int8['top1_agreement_with_keras']:.2f} %",
            f"{int8['size_mb']:.2f} MB ({int8['size_ratio_to_float32_tflite']:.2f}x smaller)",
            f"{int8['latency_2_threads_ms']:.1f} ms "
            f"({int8['latency_2_threads_ratio_to_float16']:.2f}x)",
            f"{100 * safe['top1_agreement_with_keras']:.2f} %, {safe['size_mb']:.2f} MB"))
    header = ("backbone", "accuracy vs Keras", "top-1 agreement", "size (vs float32)",
              "one image, 2 threads (vs float16)", "int8-safe: agreement, size")
    return _list_table(
        "TFLite int8 against each run's Keras model, the 1,736 test images: medians over the "
        "trained runs of each backbone, each JSON one invocation of ``benchmarks/export.py``",
        header, rows, f"From {', '.join(files)} in ``benchmarks/results/``. They come from "
                      f"different days: across rows compare the latency ratios, not the "
                      f"milliseconds.")


CONFIG_WORDS = {
    "defaults_2026_11": "MobileNetV2, the defaults of November 2026: every block, 3 epochs, "
                        "no label smoothing (the time yardstick)",
    "current": "MobileNetV2, today's defaults: top 6 blocks, 2 epochs, label smoothing 0.1",
    "current_refit": "MobileNetV2, today's defaults trained on train + validation",
    "lite0": "EfficientNet-Lite0 at 224 px, today's defaults otherwise",
    **{f"lite0_prog{side}": f"EfficientNet-Lite0, fine-tuning epoch 0 at {side} px, epoch 1 "
                            f"at 224 (progressive resizing)" for side in (128, 160)},
    "lite0_feat160": "EfficientNet-Lite0, the frozen phase's features and fine-tuning epoch 0 "
                     "at 160 px, epoch 1 at 224",
    "lite0_feat160_ft3": "EfficientNet-Lite0, features at 160 px; 3 fine-tuning epochs at "
                         "128, 160 and 224 px",
    "lite0_feat160_views1": "EfficientNet-Lite0 as ``lite0_feat160``, with one augmented view "
                            "of each training image in the frozen phase",
}
"""How the tutorial names each configuration of ``benchmarks/caltech101.py``."""


MISSED_WORDS = {"test_accuracy": "top-1", "test_mean_per_class_accuracy": "per class",
                "beats_logistic_regression_every_seed": "yardstick",
                "wall_time_ratio": "time", "test_expected_calibration_error": "ECE"}
"""Short words for each part of the benchmark's target in the tutorial table."""


def _by_seed(runs: list[dict]) -> str:
    """Test top-1 / mean per class of each seed, one per line (an RST line block)."""
    return "\n       ".join(f"| {100 * r['test_accuracy']:.2f}/"  # no space: one line each
                            f"{100 * r['test_mean_per_class_accuracy']:.2f}" for r in runs)


def flagship_target() -> str:
    """The tutorial's results table: the newest flagship benchmark that compared
    configurations with the November defaults, seed by seed, and the target of each."""
    source = _dated("caltech101_mobilenetv2_*.json", "defaults_2026_11")
    data = json.loads(source.read_text())
    first = next(iter(data["configs"]))
    rows = []
    for config, entry in data["configs"].items():
        runs, median, target = entry["runs"], entry["median"], entry.get("target")
        validation = "-" if "validation_accuracy" not in median else (
            f"{100 * statistics.mean(r['validation_accuracy'] for r in runs):.2f} / "
            f"{100 * statistics.mean(r['validation_mean_per_class_accuracy'] for r in runs):.2f}")
        missed = [] if target is None else [  # the parts the benchmark judged missed
            MISSED_WORDS.get(key, key) for key, met in target["met"].items() if not met]
        rows.append((CONFIG_WORDS.get(config, f"``{config}``"), _by_seed(runs),
                     f"**{100 * median['test_accuracy']:.2f} / "
                     f"{100 * median['test_mean_per_class_accuracy']:.2f}**",
                     validation, _pct([r["test_expected_calibration_error"] for r in runs]),
                     f"{median['wall_seconds']:,.0f} s ({median[f'wall_time_ratio_to_{first}']:.3f})",
                     "-" if target is None else "met" if target["all_met"]
                     else "misses " + ", ".join(missed)))
    baseline = sorted(data["baseline"]["runs"], key=lambda r: r["seed"])
    rows.append(("logistic regression on frozen MobileNetV2 features (the yardstick)",
                 _by_seed(baseline), "", "", "", "", ""))
    goal = data["configs"][first]["target"]["target"]  # benchmarks/caltech101.py's TARGET
    seeds = ", ".join(str(s) for s in data["seeds"])
    speed = data["calibration_frozen_mobilenetv2_224_batch64_images_per_second"]
    header = ("configuration", f"test top-1 / mean per class, seeds {seeds} (%)",
              "median (%)", "validation, mean of seeds (%)", "test ECE (median)",
              "wall time, median (ratio)", "target")
    return _list_table(
        f"Caltech-101, the same 1,736 test images per seed, one invocation (each seed's "
        f"configurations one after another). Target: medians of at least "
        f"{100 * goal['test_accuracy']:g} % top-1 and {100 * goal['test_mean_per_class_accuracy']:g} % "
        f"per class, above the yardstick on every seed, at most "
        f"{goal['wall_time_ratio']:.2f}x the first row's wall time, test ECE at most "
        f"{100 * goal['test_expected_calibration_error']:g} %", header, rows,
        _from(source, data["command"].split(" --output-dir")[0]) + f" The machine ran frozen "
        f"MobileNetV2 at {speed['before']:g} images/s before the runs and {speed['after']:g} "
        f"after (224 px, batch 64).", widths=(30, 14, 12, 14, 8, 11, 11))


TABLES = {"front_results.inc": front_results, "backbone_results.inc": backbone_results,
          "four_backbones.inc": four_backbones, "int8_backbones.inc": int8_backbones,
          "flagship_target.inc": flagship_target}
"""Each include file and the function that writes it."""


def main() -> None:
    INCLUDES.mkdir(exist_ok=True)
    for name, table in TABLES.items():
        (INCLUDES / name).write_text(table())
        print(INCLUDES / name)


if __name__ == "__main__":
    main()

"""Write the documentation's result tables from the committed benchmark JSON, never by hand.

    python docs/results_tables.py   # rewrites the docs/_includes/*.inc of TABLES

The front page's "What to expect" table is made from the newest flagship benchmark
(``benchmarks/results/caltech101_mobilenetv2_*.json`` with a ``current`` configuration)
and the newest export benchmark (``benchmarks/results/export_*.json``); the backbones
guide's tables from the newest ``caltech101_current_lite*.json`` (MobileNetV2 and Lite0,
seeds 0-2) and ``caltech101_four_backbones_*.json`` (all four). A test checks that the
committed tables are what this script writes from the committed JSON.
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
                source: Path, command: str) -> str:
    """An RST list-table with its caption, and the JSON and command it came from."""
    body = "\n".join("   * - " + "\n     - ".join(row) for row in [header, *rows])
    return (f".. list-table:: {caption}\n   :header-rows: 1\n\n{body}\n\n"
            f"From ``benchmarks/results/{source.name}`` (``{command}``).\n")


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
                       f"seeds {seeds}, one invocation", header, rows, source,
                       data["command"].split(" --output-dir")[0])


def four_backbones() -> str:
    """The backbones guide's table of all four candidates on the full data, one invocation."""
    source = _dated("caltech101_four_backbones_*.json")
    data = json.loads(source.read_text())
    first = next(iter(data["configs"]))
    rows = []
    for config, entry in data["configs"].items():
        runs, median = entry["runs"], entry["median"]
        phases = runs[0]["wall_seconds"] if len(runs) == 1 else None
        rows.append((
            f"``{BACKBONE_OF.get(config, config)}``",
            f"{100 * median['test_accuracy']:.2f} % / "
            f"{100 * median['test_mean_per_class_accuracy']:.2f} %",
            f"{100 * median['validation_accuracy']:.2f} % / "
            f"{100 * median['validation_mean_per_class_accuracy']:.2f} %",
            _pct([r["test_expected_calibration_error"] for r in runs]),
            f"{median['wall_seconds']:,.0f} s ({median[f'wall_time_ratio_to_{first}']:.2f})",
            "-" if phases is None else f"{phases['fine_tuning']:,.0f} s"))
    header = ("backbone", "test accuracy / mean per class", "validation accuracy / mean per class",
              "test ECE", "wall time (ratio)", "of it fine-tuning")
    seeds = ", ".join(str(s) for s in data["seeds"])
    return _list_table(f"Caltech-101, 101 classes, 1,736 test images, tlkit's defaults at "
                       f"each backbone's native size, seed {seeds}, one invocation", header,
                       rows, source,
                       data["command"].split(" --baseline")[0].split(" --output-dir")[0])


TABLES = {"front_results.inc": front_results, "backbone_results.inc": backbone_results,
          "four_backbones.inc": four_backbones}
"""Each include file and the function that writes it."""


def main() -> None:
    INCLUDES.mkdir(exist_ok=True)
    for name, table in TABLES.items():
        (INCLUDES / name).write_text(table())
        print(INCLUDES / name)


if __name__ == "__main__":
    main()

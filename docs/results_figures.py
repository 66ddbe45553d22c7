"""Draw the documentation's result charts from the committed benchmark JSON.

    python docs/results_figures.py       # writes docs/_static/figures/configurations.png

``configurations.png``: each configuration of the flagship benchmark that compared several
(``benchmarks/results/caltech101_mobilenetv2_2026-12-02_target_smaller_features.json``), one
point per seed, test accuracy and mean per-class accuracy against the wall time relative to the
November 2026 defaults, with the logistic-regression yardstick as a band: the tutorial's table
as a picture.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "benchmarks" / "results"
          / "caltech101_mobilenetv2_2026-12-02_target_smaller_features.json")
OUTPUT = ROOT / "docs" / "_static" / "figures" / "configurations.png"
NAMES = {"defaults_2026_11": "MobileNetV2, every block, 3 epochs (November defaults)",
         "current": "MobileNetV2, today's defaults",
         "current_refit": "MobileNetV2, today's defaults on train + validation",
         "lite0": "EfficientNet-Lite0, today's defaults",
         "lite0_prog160": "EfficientNet-Lite0, epoch 0 at 160 px",
         "lite0_prog128": "EfficientNet-Lite0, epoch 0 at 128 px",
         "lite0_feat160": "EfficientNet-Lite0, features and epoch 0 at 160 px",
         "lite0_feat160_ft3": "EfficientNet-Lite0, features at 160, epochs at 128/160/224 px",
         "lite0_feat160_views1": "EfficientNet-Lite0, features at 160 px + 1 augmented view"}


def configurations_figure(source: Path = SOURCE) -> Figure:
    """The chart of ``source`` (see the module docstring)."""
    data = json.loads(source.read_text())
    baseline = {r["seed"]: r for r in data["baseline"]["runs"]}
    figure = Figure(figsize=(10.5, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharex=True)
    # the process's wall time, as the JSON's ratios (start-up and data scanning included)
    reference = statistics.median(r["process_wall_seconds"]
                                  for r in data["configs"]["defaults_2026_11"]["runs"])
    target = data["configs"]["defaults_2026_11"].get("target", {}).get("target", {})
    for ax, metric, title in ((axes[0], "test_accuracy", "test accuracy (top-1)"),
                              (axes[1], "test_mean_per_class_accuracy",
                               "mean per-class accuracy (test)")):
        low = min(r[metric] for r in baseline.values())
        high = max(r[metric] for r in baseline.values())
        ax.axhspan(100 * low, 100 * high, color="#dddddd",
                   label="logistic regression on frozen features (seeds 0-2)")
        for (key, config), marker in zip(data["configs"].items(), "osD^v"):
            runs = config["runs"]
            ratio = [r["process_wall_seconds"] / reference for r in runs]
            values = [100 * r[metric] for r in runs]
            points = ax.plot(ratio, values, marker, alpha=0.55, markersize=7,
                             label=f"{NAMES.get(key, key)}: each seed")
            ax.plot([statistics.median(ratio)], [statistics.median(values)], marker,
                    color=points[0].get_color(), markersize=12, markeredgecolor="black")
        if metric in target:  # the target: above this line, left of the dashed one
            ax.axhline(100 * target[metric], color="#c0392b", linestyle=":", linewidth=1.2,
                       label=f"target: median >= {100 * target[metric]:g} %, time <= "
                             f"{target['wall_time_ratio']:g}x")
            ax.axvline(target["wall_time_ratio"], color="#c0392b", linestyle="--",
                       linewidth=1.0)
        ax.set_title(title)
        ax.set_xlabel("wall time / November defaults' median (lower is faster)")
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    for ax in axes:
        ax.legend(fontsize=7, loc="lower left")
    figure.suptitle("Caltech-101, three random splits: large markers are medians", fontsize=11)
    return figure


def main() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    configurations_figure().savefig(OUTPUT, dpi=100)
    print(OUTPUT)


if __name__ == "__main__":
    main()

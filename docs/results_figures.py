"""Draw the documentation's result charts from the committed benchmark JSON.

    python docs/results_figures.py       # writes docs/_static/figures/configurations.png

``configurations.png``: each configuration of the flagship benchmark that compared several
(``benchmarks/results/caltech101_mobilenetv2_2026-11-27_speed_target.json``), one point per
seed, test accuracy and mean per-class accuracy against the wall time relative to the
previous defaults, with the logistic-regression yardstick as a band: the tutorial's table
as a picture.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "benchmarks" / "results" / "caltech101_mobilenetv2_2026-11-27_speed_target.json"
OUTPUT = ROOT / "docs" / "_static" / "figures" / "configurations.png"
NAMES = {"defaults_2026_11": "every block, 3 epochs (previous defaults)",
         "current": "top 6 blocks, 2 epochs, label smoothing (defaults)",
         "current_refit": "the same, trained on train + validation"}


def configurations_figure(source: Path = SOURCE) -> Figure:
    """The chart of ``source`` (see the module docstring)."""
    data = json.loads(source.read_text())
    baseline = {r["seed"]: r for r in data["baseline"]["runs"]}
    figure = Figure(figsize=(10.5, 4.2), layout="constrained")
    axes = figure.subplots(1, 2, sharex=True)
    reference = statistics.median(r["wall_seconds"]["total"]
                                  for r in data["configs"]["defaults_2026_11"]["runs"])
    for ax, metric, title in ((axes[0], "test_accuracy", "test accuracy (top-1)"),
                              (axes[1], "test_mean_per_class_accuracy",
                               "mean per-class accuracy (test)")):
        low = min(r[metric] for r in baseline.values())
        high = max(r[metric] for r in baseline.values())
        ax.axhspan(100 * low, 100 * high, color="#dddddd",
                   label="logistic regression on frozen features (seeds 0-2)")
        for (key, config), marker in zip(data["configs"].items(), "osD"):
            runs = config["runs"]
            ratio = [r["wall_seconds"]["total"] / reference for r in runs]
            values = [100 * r[metric] for r in runs]
            points = ax.plot(ratio, values, marker, alpha=0.55, markersize=7,
                             label=f"{NAMES.get(key, key)}: each seed")
            ax.plot([statistics.median(ratio)], [statistics.median(values)], marker,
                    color=points[0].get_color(), markersize=12, markeredgecolor="black")
        ax.set_title(title)
        ax.set_xlabel("wall time / previous defaults' median (lower is faster)")
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left")
    figure.suptitle("Caltech-101, three random splits: large markers are medians", fontsize=11)
    return figure


def main() -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    configurations_figure().savefig(OUTPUT, dpi=100)
    print(OUTPUT)


if __name__ == "__main__":
    main()

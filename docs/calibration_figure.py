"""Draw the documentation's before/after calibration figure from a flagship run folder.

    python docs/calibration_figure.py RUN_DIR --output docs/_static/calibration.png

The run's test split is evaluated twice with the public API: as saved (its fitted
temperature) and with the temperature set back to 1 (what the model said before
calibration). The answers are the same; only the probabilities differ. The figures of
both go to ``<output>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure

import tlkit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    run = tlkit.TrainingRun.load(args.run_dir)
    temperature = run.temperature
    after = run.evaluate(run.split.test, verbose=0)
    run.model.get_layer(index=-1).set_temperature(1.0)
    before = run.evaluate(run.split.test, verbose=0)
    figure = Figure(figsize=(11, 5.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    tlkit.plot_reliability(before, ax=left)
    tlkit.plot_reliability(after, ax=right)
    left.set_title(f"Before: temperature 1\nECE {before.expected_calibration_error():.3f}",
                   fontsize=11)
    right.set_title(f"After: temperature {temperature:.3f} (fitted on validation)\n"
                    f"ECE {after.expected_calibration_error():.3f}", fontsize=11)
    figure.suptitle(f"Caltech-101 test split ({len(after.y_true):,} images): the same answers "
                    f"(accuracy {after.accuracy:.2%}), calibrated probabilities", fontsize=12)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.output, dpi=90)
    figures = {"temperature": round(temperature, 4), "test_images": len(after.y_true),
               "accuracy_before": before.accuracy, "accuracy_after": after.accuracy,
               "ece_before": round(before.expected_calibration_error(), 4),
               "ece_after": round(after.expected_calibration_error(), 4),
               "same_answers": bool((before.y_pred == after.y_pred).all())}
    args.output.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

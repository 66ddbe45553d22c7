"""Post-hoc logit adjustment on trained runs: does it raise mean per-class accuracy?

For each run folder (a flagship run with its split), the run's own probabilities of its
validation and test images (calibrated, with its test-time rule) are adjusted as in Menon
et al. 2021, "Long-tail learning via logit adjustment": ``log p - tau * log prior``, the
prior being the training split's class shares. ``tau`` is chosen on the validation split
(the best mean per-class accuracy over a grid; ties: the smallest tau); the test split only
reports. A lever of the flagship issue, measured before it goes into the library.

    python benchmarks/logit_adjustment.py --run-dir RUN0 RUN1 RUN2
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

from tlkit import EvaluationReport, TrainingRun  # noqa: E402

TAUS = [round(0.1 * i, 1) for i in range(0, 21)]


def pixels_of(run: TrainingRun, part: object) -> tuple[np.ndarray, np.ndarray]:
    batches = list(part.to_dataset(64, image_size=run.image_size,
                                   resize=run.options.resize).as_numpy_iterator())
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def adjusted(probabilities: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    return np.log(np.clip(probabilities, 1e-12, 1.0)) - tau * np.log(prior)


def measure(run_dir: Path) -> dict:
    start = time.perf_counter()
    run = TrainingRun.load(run_dir)
    counts = np.bincount(run.split.train.labels, minlength=len(run.class_names))
    prior = counts / counts.sum()
    scores = {}
    for name, part in (("validation", run.split.val), ("test", run.split.test)):
        pixels, labels = pixels_of(run, part)
        scores[name] = (run.predict_proba(pixels), labels)

    def per_class(name: str, tau: float) -> tuple[float, float]:
        probabilities, labels = scores[name]
        report = EvaluationReport(labels, adjusted(probabilities, prior, tau).argmax(1),
                                  class_names=run.class_names)
        return report.accuracy, report.balanced_accuracy

    on_validation = {tau: per_class("validation", tau) for tau in TAUS}
    best = max(TAUS, key=lambda t: (on_validation[t][1], -t))
    test_before, test_after = per_class("test", 0.0), per_class("test", best)
    return {"run_dir": str(run_dir), "seed": run.options.seed, "chosen_tau": best,
            "validation_mean_per_class_by_tau": {str(t): round(v[1], 6)
                                                  for t, v in on_validation.items()},
            "test_accuracy_before": test_before[0], "test_accuracy_after": test_after[0],
            "test_mean_per_class_before": test_before[1],
            "test_mean_per_class_after": test_after[1],
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, nargs="+", required=True)
    add_output_arguments(parser)
    args = parser.parse_args()
    runs = [measure(path) for path in args.run_dir]
    delta = [r["test_mean_per_class_after"] - r["test_mean_per_class_before"] for r in runs]
    result = {"benchmark": "logit_adjustment", "command": " ".join(["python", *sys.argv]),
              "taus": TAUS, "runs": runs,
              "median_test_mean_per_class_gain_points": round(100 * statistics.median(delta), 2),
              "median_test_accuracy_gain_points": round(100 * statistics.median(
                  r["test_accuracy_after"] - r["test_accuracy_before"] for r in runs), 2)}
    write_results(result, "logit_adjustment", args.json, overwrite=args.overwrite)


if __name__ == "__main__":
    main()

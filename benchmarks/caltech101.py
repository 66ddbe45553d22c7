"""The flagship configuration on the real Caltech-101, for several seeds; prints JSON.

Each seed runs ``examples/caltech101_mobilenetv2.py`` in its own process (so wall time
and peak memory are per run) with a stratified 80/20 train+validation/test split of the
101 classes, and the medians over the seeds are reported.

    python benchmarks/caltech101.py --seeds 0 1 2 \\
        --data-dir PATH/101_ObjectCategories --weights PATH/mobilenet_v2_...no_top.weights.h5

Arguments after ``--`` go to the example unchanged (e.g. ``-- --finetune-epochs 4``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "caltech101_mobilenetv2.py"


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-dir", default=os.environ.get("TLKIT_CALTECH101_DIR"))
    parser.add_argument("--weights", default=os.environ.get("TLKIT_MOBILENETV2_WEIGHTS",
                                                            "imagenet"))
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="keep each run's outputs here (default: a temporary folder)")
    args = parser.parse_args(argv)

    root = args.output_dir or Path(tempfile.mkdtemp(prefix="tlkit-bench-"))
    runs = []
    for seed in args.seeds:
        out = root / f"seed{seed}"
        command = [sys.executable, str(EXAMPLE), "--seed", str(seed), "--output-dir", str(out),
                   "--overwrite", "--weights", str(args.weights), "--verbose", "0", *extra]
        if args.data_dir:
            command += ["--data-dir", str(args.data_dir)]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if completed.returncode != 0:
            print(completed.stderr[-4000:], file=sys.stderr)
            raise SystemExit(f"seed {seed} failed with exit code {completed.returncode}")
        metrics = json.loads((out / "metrics.json").read_text())
        metrics.pop("unfreeze_events", None)
        runs.append({"seed": seed, "process_wall_seconds": round(wall, 1), **metrics})

    def median(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    report = {
        "benchmark": "caltech101_mobilenetv2",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "example_arguments": extra,
        "seeds": args.seeds,
        "cpu_count": os.cpu_count(),
        "median": {
            "test_accuracy": median("test_accuracy"),
            "test_mean_per_class_accuracy": median("test_mean_per_class_accuracy"),
            "wall_seconds": median("process_wall_seconds"),
            "peak_memory_mb": median("peak_memory_mb"),
            "feature_images_per_second": median("feature_images_per_second"),
            "fine_tuning_images_per_second": median("fine_tuning_images_per_second"),
        },
        "runs": runs,
        "outputs": str(root),
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()

"""The flagship configuration on the real Caltech-101, for several seeds; prints JSON.

Each seed runs ``examples/caltech101_mobilenetv2.py`` in its own process (so wall time
and peak memory are per run) with a stratified 80/20 train+validation/test split of the
101 classes, and the medians over the seeds are reported.

    python benchmarks/caltech101.py --seeds 0 1 2 \\
        --data-dir PATH/101_ObjectCategories --weights PATH/mobilenet_v2_...no_top.weights.h5

Arguments after ``--`` go to the example unchanged (e.g. ``-- --finetune-epochs 4``).

``--allocator tcmalloc`` (the default ``auto`` does so when the library is installed, e.g.
Debian's ``libtcmalloc-minimal4``) runs the example with ``LD_PRELOAD`` set to
tcmalloc: on a 2-core CPU machine, TensorFlow with glibc's allocator spends much of its
time in page faults for the large activation buffers it allocates and frees every step,
and tcmalloc, which keeps them, ran inference about 1.7x and training about 1.5x faster.
The JSON records which allocator each run used.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "caltech101_mobilenetv2.py"
TCMALLOC_NAMES = ("tcmalloc_minimal", "tcmalloc")


def child_environment(allocator: str) -> tuple[dict[str, str], str]:
    """The environment for the example's process and the allocator it will use."""
    env = dict(os.environ)
    if allocator == "system":
        return env, "system"
    found = next((lib for name in TCMALLOC_NAMES
                  if (lib := ctypes.util.find_library(name))), None)
    if found is None:
        if allocator == "tcmalloc":
            raise SystemExit("--allocator tcmalloc: no libtcmalloc found by the dynamic "
                             "linker (install e.g. Debian's libtcmalloc-minimal4 or "
                             "gperftools), or use --allocator system")
        return env, "system"
    env["LD_PRELOAD"] = " ".join(filter(None, [found, env.get("LD_PRELOAD", "")]))
    return env, found


def example_command(seed: int, out: Path, weights: str, data_dir: str | None,
                    extra: list[str], *, overwrite: bool) -> list[str]:
    """The example's command line for one seed; ``--overwrite`` only when the user asked."""
    command = [sys.executable, str(EXAMPLE), "--seed", str(seed), "--output-dir", str(out),
               "--weights", str(weights), "--verbose", "0", *extra]
    if overwrite:
        command.append("--overwrite")
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    return command


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
    parser.add_argument("--allocator", choices=["auto", "tcmalloc", "system"], default="auto",
                        help="memory allocator of the example's process (auto: tcmalloc "
                             "when installed)")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    env, allocator = child_environment(args.allocator)
    print(f"allocator: {allocator}", file=sys.stderr)

    root = args.output_dir or Path(tempfile.mkdtemp(prefix="tlkit-bench-"))
    runs = []
    for seed in args.seeds:
        out = root / f"seed{seed}"
        # Runs in a folder the user named are replaced only when asked (--overwrite); a
        # temporary folder of our own is fresh anyway.
        command = example_command(seed, out, args.weights, args.data_dir, extra,
                                  overwrite=args.overwrite)
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   env=env)
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
        "allocator": allocator,
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
    write_results(report, 'caltech101_mobilenetv2', args.json, overwrite=args.overwrite)
    return report


if __name__ == "__main__":
    main()

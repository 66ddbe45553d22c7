"""How tlkit's cost grows with the number of images: scan, split, features, head, memory.

Generates small JPEGs (64x48 to 96x72, a colour and stripes per class plus noise) in
``--classes`` class folders, then, for each size in ``--sizes``, runs in a FRESH process
(so its peak memory is its own) what ``tlkit train --quick`` does before fine-tuning:
the first :class:`tlkit.ImageFolder` scan, a second scan of the same folder (served from
the scan cache: the decodes of each scan are counted), the stratified split (70 / 10 /
20), feature extraction over the training and validation images and head training on
the cached features. Generating the images is timed on its own and not counted.

The backbone has random weights by default (``--weights`` or $TLKIT_MOBILENETV2_WEIGHTS
for ImageNet's): the time of a forward pass does not depend on the weights' values.
Scan results go to a temporary $TLKIT_CACHE_DIR, never the user's cache.

    python benchmarks/scale.py --sizes 1000 10000 100000
    python benchmarks/scale.py --plot-from benchmarks/results/scale_DATE.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results

ROOT = Path(__file__).resolve().parents[1]
PLOT = ROOT / "docs" / "_static" / "scale.png"
PHASES = ("first_scan", "second_scan", "split", "feature_extraction", "head_training")
SEED = 0


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- generated images --------------------------------------------------------------------

def class_style(label: int, classes: int) -> tuple[np.ndarray, float, float]:
    """A class's colour (RGB), stripe period (px) and stripe angle (radians)."""
    rng = np.random.default_rng(10_000 + label)
    colour = rng.uniform(30, 225, 3)
    period = 4.0 + 12.0 * ((label * 7) % classes) / max(classes - 1, 1)
    angle = math.pi * ((label * 13) % classes) / classes
    return colour, period, angle


def make_image(label: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """One ``(h, w, 3)`` uint8 image of class ``label``: its colour, its stripes, noise."""
    width = int(rng.integers(64, 97))
    height = round(width * 0.75) + int(rng.integers(-4, 5))
    colour, period, angle = class_style(label, classes)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi)
    stripes = np.sin(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period + phase)
    pixels = colour[None, None, :] + 40.0 * stripes[..., None] \
        + rng.normal(0, 25, (height, width, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def generate(root: Path, images: int, classes: int, seed: int) -> float:
    """Write ``images`` JPEGs in ``classes`` folders under ``root``; return the seconds taken."""
    from PIL import Image

    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    for label in range(classes):
        (root / f"class_{label:03d}").mkdir(parents=True, exist_ok=True)
    for i in range(images):
        label = i % classes
        pixels = make_image(label, classes, rng)
        Image.fromarray(pixels).save(root / f"class_{label:03d}" / f"img_{i:06d}.jpg",
                                     quality=85)
        if (i + 1) % 10_000 == 0:
            log(f"  generated {i + 1:,} / {images:,}")
    return time.perf_counter() - start


# --- one size, in its own process ---------------------------------------------------------

def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss), in MB (Linux: KiB units)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident memory now (VmRSS), in MB; NaN off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every phase over the folder ``root``, in this process (call it in a fresh one)."""
    t = time.perf_counter()
    import keras

    import tlkit
    import tlkit.data.folder as folder_module  # instrumented: its decodes are counted
    from tlkit import extract_features, fit_head
    import_seconds = time.perf_counter() - t

    decodes = [0]
    check = folder_module.check_decodes

    def counted(path: str) -> str | None:
        decodes[0] += 1
        return check(path)

    folder_module.check_decodes = counted  # count the decodes of each scan
    keras.utils.set_random_seed(SEED)
    seconds: dict[str, float] = {}
    memory: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}

    def done(phase: str, start: float) -> None:
        seconds[phase] = time.perf_counter() - start
        memory[phase] = {"rss_mb": round(rss_mb(), 1), "peak_mb": round(peak_memory_mb(), 1)}
        log(f"  {phase}: {seconds[phase]:.2f} s, RSS {memory[phase]['rss_mb']:.0f} MB, "
            f"peak {memory[phase]['peak_mb']:.0f} MB")

    memory["after_imports"] = {"rss_mb": round(rss_mb(), 1),
                               "peak_mb": round(peak_memory_mb(), 1)}
    t = time.perf_counter()
    first = tlkit.ImageFolder(root, verbose=0)
    counts["first_scan_decodes"] = decodes[0]
    done("first_scan", t)
    cache_file = folder_module._scan_cache_file(root, Path(os.environ["TLKIT_CACHE_DIR"]))
    cached = json.loads(cache_file.read_text())["files"]
    counts["scan_cache_entries"] = len(cached)
    t = time.perf_counter()
    decodes[0] = 0
    folder = tlkit.ImageFolder(root, verbose=0)
    counts["second_scan_decodes"] = decodes[0]
    done("second_scan", t)
    same = folder.paths == first.paths and np.array_equal(folder.labels, first.labels)
    del first

    t = time.perf_counter()  # as tlkit.train splits: test first, then validation
    trainval, _, test = folder.split(val=0.0, test=0.2, seed=SEED)
    train, val, _ = trainval.split(val=0.1, test=0.0, seed=SEED)
    done("split", t)

    t = time.perf_counter()
    backbone = tlkit.build_backbone("mobilenet_v2", image_size=args.image_size,
                                    weights=args.weights or None)
    head = tlkit.ClassifierHead(folder.num_classes, dropout=0.2)
    head.build((None, backbone.output_shape[-1]))
    build_seconds = time.perf_counter() - t

    policy = tlkit.AugmentationPolicy.preset("standard", seed=SEED) if args.views else None
    t = time.perf_counter()
    extract = {"batch_size": 64, "pooling": head.pooling, "verbose": 0}
    x_train, y_train = extract_features(backbone, train, augmented_views=args.views,
                                        augment=policy, **extract)
    x_val, y_val = extract_features(backbone, val, **extract)
    done("feature_extraction", t)
    feature_bytes = x_train.nbytes + x_val.nbytes

    t = time.perf_counter()
    history = fit_head(head, x_train, y_train, epochs=args.head_epochs,
                       validation_data=(x_val, y_val), label_smoothing=0.1, seed=SEED,
                       verbose=0)
    done("head_training", t)

    return {
        "images": len(folder),
        "train_images": len(train), "validation_images": len(val), "test_images": len(test),
        "images_through_backbone": len(x_train) + len(x_val),
        "skipped_files": len(folder.skipped),
        "second_scan_same_images": bool(same),
        **counts,
        "scan_cache_file_mb": round(cache_file.stat().st_size / 2**20, 2),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_not_counted": {"imports": round(import_seconds, 2),
                                "build_backbone": round(build_seconds, 2)},
        "memory_after_phase_mb": memory,
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "feature_mb": round(feature_bytes / 2**20, 1),
        "head_validation_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "head_loss_per_epoch": [round(float(v), 4) for v in history.history["loss"]],
        "features_all_finite": bool(np.isfinite(x_train).all() and np.isfinite(x_val).all()),
        "feature_abs_max": round(float(max(np.abs(x_train).max(), np.abs(x_val).max())), 2),
    }


def run_child(root: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """:func:`measure` in a fresh Python process; its JSON comes back on stdout."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(root),
               "--image-size", str(args.image_size), "--head-epochs", str(args.head_epochs),
               "--views", str(args.views), "--weights", str(args.weights or "")]
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measurement of {root} failed (exit {done.returncode}); "
                         f"see its messages above")
    return json.loads(done.stdout)


# --- the whole run --------------------------------------------------------------------------

def per_thousand(run: dict[str, Any]) -> dict[str, float]:
    return {phase: round(seconds / run["images"] * 1000, 4)
            for phase, seconds in run["seconds"].items()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Time ratios between consecutive sizes (linear: the ratio of the sizes), memory slopes."""
    summary: dict[str, Any] = {"time_ratios": {}}
    for small, large in itertools.pairwise(runs):
        key = f"{large['images']}/{small['images']}"
        summary["time_ratios"][key] = {
            "images": round(large["images"] / small["images"], 2),
            **{phase: round(large["seconds"][phase] / max(small["seconds"][phase], 1e-9), 2)
               for phase in PHASES}}
    if len(runs) >= 2:
        first, last = runs[0], runs[-1]
        k = (last["images"] - first["images"]) / 1000
        summary["peak_mb_per_1k_images"] = round(
            (last["peak_memory_mb"] - first["peak_memory_mb"]) / k, 2)
        summary["feature_mb_per_1k_images"] = round(
            (last["feature_mb"] - first["feature_mb"]) / k, 2)
        beyond = [r["peak_memory_mb"] - r["feature_mb"] for r in runs]
        summary["peak_minus_features_mb"] = {str(r["images"]): round(b, 1)
                                             for r, b in zip(runs, beyond)}
        summary["peak_minus_features_mb_per_1k_images"] = round(
            (beyond[-1] - beyond[0]) / k, 2)
        summary["peak_over_features_at_largest"] = round(
            (last["peak_memory_mb"] - first["peak_memory_mb"])
            / max(last["feature_mb"] - first["feature_mb"], 1e-9), 2)
    summary["second_scan_over_first"] = {
        str(r["images"]): round(r["seconds"]["second_scan"] / r["seconds"]["first_scan"], 4)
        for r in runs}
    return summary


def estimate_seconds(run: dict[str, Any], images: int, generate_per_image: float) -> float:
    """Generation plus a fresh process at ``images``, extrapolated linearly from ``run``."""
    scale = images / run["images"]
    return (sum(run["seconds"].values()) * scale + sum(run["seconds_not_counted"].values())
            + generate_per_image * images)


def fitting_size(wanted: int, seconds_left: float, per_image: float, fixed: float) -> int:
    """The largest round size (1, 2, 3 or 5 times a power of ten) that fits the time left."""
    most = (seconds_left - fixed) / per_image
    candidates = [m * 10**e for e in range(2, 7) for m in (1, 2, 3, 5) if m * 10**e <= most]
    return min(max(candidates), wanted) if candidates else 0


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=96,
                        help="backbone input size (default 96)")
    parser.add_argument("--head-epochs", type=int, default=5)
    parser.add_argument("--views", type=int, default=0,
                        help="augmented views per training image (tlkit train --quick: 1)")
    parser.add_argument("--weights", default=os.environ.get("TLKIT_MOBILENETV2_WEIGHTS"),
                        help="MobileNetV2 no-top weights file (default: "
                             "$TLKIT_MOBILENETV2_WEIGHTS, else random weights)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="where the images go (default: a temporary folder, deleted)")
    parser.add_argument("--budget-minutes", type=float, default=45.0,
                        help="a size that would not finish in the time left (extrapolated "
                             "linearly from the size before) is made smaller, with a note")
    parser.add_argument("--plot", type=Path, default=PLOT, help="the figure (PNG)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot-from", type=Path, default=None,
                        help="only draw the figure from an earlier JSON")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    add_output_arguments(parser)
    args = parser.parse_args(argv)

    if args.child is not None:  # one size, in this fresh process
        sys.stdout.write(json.dumps(measure(args.child, args)) + "\n")
        return {}
    if args.plot_from is not None:
        result = json.loads(args.plot_from.read_text())
        plot(result, args.plot)
        log(f"drew {args.plot}")
        return result

    started = time.perf_counter()
    budget = args.budget_minutes * 60
    load_start = os.getloadavg()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tlkit-scale-"))
    cache = Path(tempfile.mkdtemp(prefix="tlkit-scale-cache-"))
    # The children import the tlkit this process would import (a worktree, not another copy).
    import importlib.util

    source = str(Path(importlib.util.find_spec("tlkit").origin).parents[1])  # type: ignore[arg-type]
    env = {**os.environ, "TLKIT_CACHE_DIR": str(cache),
           "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])]),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    notes: list[str] = []
    runs: list[dict[str, Any]] = []
    generation: dict[str, float] = {}
    try:
        for size in args.sizes:
            if runs:
                per_gen = statistics.mean(generation[str(r["images_asked"])] / r["images_asked"]
                                          for r in runs)
                last = runs[-1]
                left = budget - (time.perf_counter() - started)
                need = estimate_seconds(last, size, per_gen)
                if need > left:
                    per_image = (estimate_seconds(last, 2 * last["images"], per_gen)
                                 - estimate_seconds(last, last["images"], per_gen)) \
                        / last["images"]
                    fixed = sum(last["seconds_not_counted"].values())
                    smaller = fitting_size(size, left, per_image, fixed)
                    note = (f"{size:,} images would take about {need / 60:.0f} min (linear from "
                            f"{last['images']:,}: {sum(last['seconds'].values()):.0f} s measured "
                            f"+ generation) with {left / 60:.0f} min of the "
                            f"{args.budget_minutes:g} min budget left on this shared 2-core "
                            f"machine")
                    if smaller <= last["images_asked"]:
                        notes.append(note + "; skipped")
                        log(notes[-1])
                        break
                    notes.append(note + f"; measured {smaller:,} instead")
                    log(notes[-1])
                    size = smaller
            root = work / f"images_{size}"
            if root.exists():
                shutil.rmtree(root)
            log(f"generating {size:,} images in {args.classes} classes under {root}")
            generation[str(size)] = round(generate(root, size, args.classes, SEED + size), 2)
            log(f"  {generation[str(size)]:.1f} s; measuring in a fresh process")
            run = run_child(root, args, env)
            run["images_asked"] = size
            run["seconds_per_1k_images"] = per_thousand(run)
            run["feature_mb_per_1k_images"] = round(run["feature_mb"] / run["images"] * 1000, 2)
            if runs:  # the growth of peak memory from the size before, per 1k images added
                added = (run["images"] - runs[-1]["images"]) / 1000
                run["peak_mb_per_1k_images_added"] = round(
                    (run["peak_memory_mb"] - runs[-1]["peak_memory_mb"]) / added, 2)
                run["peak_minus_features_mb_per_1k_images_added"] = round(
                    (run["peak_memory_mb"] - run["feature_mb"] - runs[-1]["peak_memory_mb"]
                     + runs[-1]["feature_mb"]) / added, 2)
            runs.append(run)
            if args.work_dir is None:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)

    import keras
    import tensorflow as tf

    import tlkit

    result = {
        "benchmark": "scale",
        "date": time.strftime("%Y-%m-%d"),
        "command": " ".join(["python", "benchmarks/scale.py", *(argv if argv is not None
                                                                 else sys.argv[1:])]),
        "setup": {
            "classes": args.classes, "image_pixels": "JPEG quality 85, 64 to 96 px wide, 44 to 76 px high",
            "backbone": "mobilenet_v2", "image_size": args.image_size,
            "weights": args.weights or "none (random: a forward pass takes the same time)",
            "batch_size": 64, "views": args.views, "head_epochs": args.head_epochs,
            "split": "stratified: test 0.2 of all, then validation 0.1 of the rest (seed 0)",
            "features_of": "training and validation images, as tlkit.train does",
            "process": "a fresh Python process per size (peak memory is that size's own)",
            "scan_cache": "a temporary TLKIT_CACHE_DIR, empty before each size's first scan",
        },
        "machine": {
            "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "load_average_1_5_15_min": {"start": [round(x, 2) for x in load_start],
                                        "end": [round(x, 2) for x in os.getloadavg()]},
            "shared": "another long benchmark ran on the same 2 cores throughout: absolute "
                      "times are slower than on an idle machine; the ratios between sizes "
                      "are the point",
        },
        "versions": {"tlkit": tlkit.__version__, "tensorflow": tf.__version__,
                     "keras": keras.__version__, "python": platform.python_version()},
        "generation_seconds_not_counted": generation,
        "sizes": runs,
        "summary": summarise(runs),
        "wall_minutes": round((time.perf_counter() - started) / 60, 1),
    }
    if notes:
        result["note"] = notes
    if not args.no_plot and len(runs) >= 2:
        plot(result, args.plot)
        log(f"drew {args.plot}")
    write_results(result, "scale", args.json, overwrite=args.overwrite)
    return result


# --- the figure -------------------------------------------------------------------------

def plot(result: dict[str, Any], path: Path) -> None:
    """Log-log seconds per phase against images (with a linear reference), and memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["sizes"]
    n = np.array([r["images"] for r in runs], dtype=float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    labels = {"first_scan": "first scan (decodes)", "second_scan": "second scan (cached)",
              "split": "stratified split", "feature_extraction": "feature extraction",
              "head_training": "head training"}
    for phase in PHASES:
        seconds = np.array([r["seconds"][phase] for r in runs])
        left.loglog(n, seconds, "o-", label=labels[phase])
    top = max(r["seconds"]["feature_extraction"] for r in runs)
    reference = top * n / n[-1]
    left.loglog(n, reference, "k--", lw=1, label="linear (slope 1)")
    left.set_xlabel("images")
    left.set_ylabel("seconds")
    left.set_title("Time per phase")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)

    peak = np.array([r["peak_memory_mb"] for r in runs])
    features = np.array([r["feature_mb"] for r in runs])
    right.plot(n, peak, "o-", label="peak memory (RSS)")
    right.plot(n, peak - features, "s-", label="peak minus the features")
    right.plot(n, features, "^-", label="features (float32)")
    right.set_xscale("log")
    right.set_xlabel("images")
    right.set_ylabel("MB")
    right.set_title("Memory of one process")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    cpus = result.get("machine", {}).get("cpu_count")
    fig.suptitle(f"tlkit scale, MobileNetV2 {result['setup']['image_size']} px, "
                 f"{result['setup']['classes']} classes ({result['date']}, {cpus} cores, "
                 f"shared machine)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Does rank_backbones predict the fine-tuned order, and at what share of its cost? Prints JSON.

Ranks the candidates (MobileNetV2 and EfficientNet-Lite0/1/2 by default, each at its native
size) on the real Caltech-101 and on its first N classes (the subset that
``benchmarks/caltech101.py -- --classes N`` fine-tunes) and, with ``--datasets fewshot``, on
the few training images per class of ``-- --train-per-class N`` (seed 0's), with LogME and
k-NN accuracy,
then compares each predicted order with the fine-tuned one read from the JSON of
``benchmarks/caltech101.py --configs current lite0 lite1 lite2`` on the same data
(test accuracy; ``current`` is MobileNetV2): Spearman's rank correlation of the scores
with the test accuracies, and the ranking's wall time against fine-tuning each backbone
once (the median run over the JSON's seeds).

    python benchmarks/rank_backbones.py --data-dir PATH/101_ObjectCategories \\
        --weights PATH/mobilenet_v2_...no_top.weights.h5 \\
        --finetuned subset20=benchmarks/results/caltech101_lite_subset20_seed0_...json

A data set without a ``--finetuned`` file is ranked only (its comparison says so). The JSON
records the machine's calibration figure; when the fine-tuned JSON has its own (another day),
the comparison also scales the ranking's time to that day's speed. Run it with the
allocator the fine-tuning used (``LD_PRELOAD`` of tcmalloc, as ``caltech101.py`` does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _calibration import calibration_images_per_second  # noqa: E402
from _results import add_output_arguments, write_results  # noqa: E402

import tlkit  # noqa: E402
from tlkit.datasets import load_caltech101  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "caltech101_mobilenetv2.py"
CONFIG_BACKBONE = {"current": "mobilenet_v2", "lite0": "efficientnet_lite0",
                   "lite1": "efficientnet_lite1", "lite2": "efficientnet_lite2"}


def example_module() -> ModuleType:
    """The flagship example as a module (its few-shot split is the one fine-tuned)."""
    spec = importlib.util.spec_from_file_location("caltech101_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CALIBRATION = "calibration_frozen_mobilenetv2_224_batch64_images_per_second"


def mean_calibration(figure: float | dict | None) -> float | None:
    """One images-per-second figure from a JSON's calibration (before/after averaged)."""
    if isinstance(figure, dict):
        values = [v for v in figure.values() if isinstance(v, (int, float))]
        return sum(values) / len(values) if values else None
    return figure


def finetuned_order(path: Path) -> dict:
    """Test accuracy and wall time of each backbone from a caltech101.py --configs JSON.

    With several seeds, both are medians: the cost to compare with is one fine-tuning of
    each backbone, not one per seed.
    """
    report = json.loads(Path(path).read_text())
    found = {"_calibration": mean_calibration(report.get(CALIBRATION))}
    for config, entry in report["configs"].items():
        if config in CONFIG_BACKBONE:
            found[CONFIG_BACKBONE[config]] = {
                "test_accuracy": entry["median"]["test_accuracy"],
                "test_mean_per_class_accuracy": entry["median"]["test_mean_per_class_accuracy"],
                "wall_seconds": statistics.median(run["process_wall_seconds"]
                                                  for run in entry["runs"]),
                "seeds": [run["seed"] for run in entry["runs"]]}
    return found


def compare(ranking: dict, finetuned: dict, calibration: float | None = None) -> dict:
    """Spearman of each score with the fine-tuned test accuracy; both orders; time ratio.

    When the fine-tuning ran on another day (its JSON has its own calibration figure), the
    raw ratio compares two machine speeds; the ratio is also given with the ranking's time
    scaled to the fine-tuning day's speed (the ranking is frozen forward passes, which is
    what the calibration figure measures).
    """
    names = [n for n in ranking["order"] if n in finetuned and not n.startswith("_")]
    accuracy = [finetuned[n]["test_accuracy"] for n in names]
    result = {"finetuned_order": sorted(names, key=lambda n: -finetuned[n]["test_accuracy"]),
              "finetuned_test_accuracy": {n: finetuned[n]["test_accuracy"] for n in names},
              "finetuning_wall_seconds": round(sum(finetuned[n]["wall_seconds"]
                                                   for n in names), 1)}
    for score in ("logme", "knn_accuracy"):
        values = [ranking["backbones"][n][score] for n in names]
        rho = spearmanr(values, accuracy).statistic
        result[f"spearman_{score}"] = None if rho != rho else round(float(rho), 3)
        result[f"predicted_order_{score}"] = ranking[f"order_by_{score}"]
    result["ranking_seconds"] = ranking["seconds"]
    result["time_ratio_ranking_to_finetuning"] = round(
        ranking["seconds"] / result["finetuning_wall_seconds"], 4)
    then = finetuned.get("_calibration")
    if calibration and then:
        result["calibration_images_per_second"] = {"ranking": calibration, "finetuning": then}
        result["time_ratio_at_the_finetuning_days_speed"] = round(
            ranking["seconds"] * calibration / then / result["finetuning_wall_seconds"], 4)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TLKIT_CALTECH101_DIR"))
    parser.add_argument("--weights", default=os.environ.get("TLKIT_MOBILENETV2_WEIGHTS",
                                                            "imagenet"),
                        help="MobileNetV2's weights (the Lite ones come from their packages)")
    parser.add_argument("--candidates", nargs="+", default=list(CONFIG_BACKBONE.values()))
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--subset-classes", type=int, default=20,
                        help="the second data set: the first N classes (alphabetical)")
    parser.add_argument("--train-per-class", type=int, default=10,
                        help="the few-shot data set: the N training images per class that "
                             "caltech101.py -- --train-per-class N --seed 0 trains on")
    parser.add_argument("--fewshot-sample", type=int, default=None,
                        help="images ranked of the few-shot data set (default: all)")
    parser.add_argument("--datasets", nargs="+", default=["subset20", "full"],
                        choices=["subset20", "full", "fewshot"])
    parser.add_argument("--finetuned", action="append", default=[], metavar="DATASET=JSON",
                        help="fine-tuned results of caltech101.py --configs for a data set")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    finetuned = dict(text.split("=", 1) for text in args.finetuned)
    folder = load_caltech101(args.data_dir, download=args.data_dir is None, verbose=0)
    data = {"full": folder,
            "subset20": folder.select_classes(folder.class_names[: args.subset_classes])}
    if "fewshot" in args.datasets:  # the example's own split of seed 0, all of it ranked
        data["fewshot"] = example_module().few_shot_split(folder, args.train_per_class, 0).train
    report = {"benchmark": "rank_backbones", "command": " ".join(["python", *sys.argv]),
              "cpu_count": os.cpu_count(), "sample": args.sample,
              "allocator": os.environ.get("LD_PRELOAD") or "system",
              "fewshot_train_per_class": args.train_per_class,
              "fewshot_sample": args.fewshot_sample,
              "subset_classes": folder.class_names[: args.subset_classes], "datasets": {}}
    calibration = [calibration_images_per_second()]
    for name in args.datasets:
        images = data[name]
        print(f"{name}: {len(images)} images, {images.num_classes} classes", file=sys.stderr)
        start = time.perf_counter()
        sample = (args.fewshot_sample or len(images)) if name == "fewshot" else args.sample
        ranking = tlkit.rank_backbones(images, args.candidates, sample=sample,
                                       weights={"mobilenet_v2": args.weights}, verbose=0)
        print(ranking, file=sys.stderr)  # stdout carries the JSON only
        entry = {"images_in_data_set": len(images), "classes": images.num_classes,
                 "wall_seconds": round(time.perf_counter() - start, 1),
                 "ranking": ranking.to_dict()}
        report["datasets"][name] = entry
    calibration.append(calibration_images_per_second())
    report[CALIBRATION] = {"before": calibration[0], "after": calibration[1]}
    for name, entry in report["datasets"].items():
        if name in finetuned:
            entry["finetuned_file"] = finetuned[name]
            entry["comparison"] = compare(entry["ranking"], finetuned_order(finetuned[name]),
                                          mean_calibration(report[CALIBRATION]))
        else:
            entry["comparison"] = "no fine-tuned results given for this data set"
    write_results(report, "rank_backbones_caltech101", args.json, overwrite=args.overwrite)
    return report


if __name__ == "__main__":
    main()

"""The data audit on the full Caltech-101: planted wrong labels found, duplicates, wall time;
prints JSON.

Two audits of the same 8,677 images (101 classes, no BACKGROUND_Google), from one feature
extraction: the data as it is (wall time against the extraction, duplicates and how many
cross the flagship's train/test split, the top suspects for a person to look at), then
with ``--noise`` of the labels changed to another class (seeded; the files are not
touched, an ImageSet carries the changed labels): the share of changed labels among the
first 2x and 1x (number changed) rows of the ranking.

    python benchmarks/audit.py --data-dir PATH/101_ObjectCategories \\
        --weights PATH/mobilenet_v2_...no_top.weights.h5 [--page-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import add_output_arguments, write_results  # noqa: E402

import tlkit  # noqa: E402
from tlkit.datasets import load_caltech101  # noqa: E402


def change_labels(labels: np.ndarray, num_classes: int, fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``fraction`` of the labels changed to another class, uniformly; (labels, changed rows)."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(labels), round(fraction * len(labels)), replace=False))
    noisy = labels.copy()
    noisy[rows] = (labels[rows] + rng.integers(1, num_classes, len(rows))) % num_classes
    return noisy, rows


def ranking_figures(ranked_paths: list[str], changed: set[str]) -> dict[str, float]:
    """Recall within the first 2x rows and precision within the first 1x rows."""
    n = len(changed)
    return {"changed": n,
            "recall_within_2x_rows": round(len(changed & set(ranked_paths[:2 * n])) / n, 4),
            "precision_within_1x_rows": round(len(changed & set(ranked_paths[:n])) / n, 4),
            "recall_within_1x_rows": round(len(changed & set(ranked_paths[:n])) / n, 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("TLKIT_CALTECH101_DIR"))
    parser.add_argument("--weights", default=os.environ.get("TLKIT_MOBILENETV2_WEIGHTS",
                                                            "imagenet"))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-dir", type=Path, default=None,
                        help="also save the clean audit's folder (CSV, page) here")
    add_output_arguments(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    folder = load_caltech101(args.data_dir, download=args.data_dir is None)
    clean = tlkit.audit(folder, weights=args.weights, image_size=args.image_size, verbose=1)
    if args.page_dir is not None:
        clean.save(args.page_dir, overwrite=args.overwrite)
    # The flagship's test split (tlkit.train's defaults): pairs across it leak.
    _, _, test = folder.split(val=0.0, test=0.2, seed=0)
    in_test = set(test.paths)
    pairs = clean.duplicates
    crossing = [(a in in_test) != (b in in_test) for a, b in zip(pairs["path_a"], pairs["path_b"])]
    is_test = np.array([p in in_test for p in clean.paths])
    leaked = tlkit.count_near_duplicates(clean.features[is_test], clean.features[~is_test])

    noisy_labels, rows = change_labels(folder.labels, folder.num_classes, args.noise, args.seed)
    noisy_set = tlkit.ImageSet(folder.paths, noisy_labels, folder.class_names)
    start = time.perf_counter()
    noisy = tlkit.audit(noisy_set, weights=args.weights, image_size=args.image_size,
                        features=clean.features, verbose=1)
    noisy_seconds = time.perf_counter() - start
    changed = {folder.paths[i] for i in rows}
    ranked = noisy.label_issues["path"].tolist()
    flagged = set(noisy.label_issues.loc[noisy.label_issues["is_issue"], "path"])

    seconds = {k: round(v, 1) for k, v in clean.seconds.items()}
    top = clean.label_issues.head(24)
    result = {
        "benchmark": "audit_caltech101",
        "images": len(folder), "classes": folder.num_classes, "image_size": args.image_size,
        "clean": {
            "seconds": seconds,
            "audit_over_extraction": round((seconds["extraction"] + seconds["the_rest"])
                                           / seconds["extraction"], 3),
            "rest_over_extraction": round(seconds["the_rest"] / seconds["extraction"], 3),
            "counts": clean.counts,
            "duplicate_pairs_crossing_flagship_test_split": int(sum(crossing)),
            "test_images_with_a_near_duplicate_in_train": leaked,
            "top24_label_issues": [
                {"path": str(Path(r.path).relative_to(folder.root)), "given": r.given,
                 "suggested": r.suggested, "score": round(r.score, 4),
                 "suggested_confidence": round(r.suggested_confidence, 4), "verdict": r.verdict}
                for r in top.itertuples()],
            "class_overlap_top5": clean.class_overlap.head(5).round(4).to_dict("records")},
        "noisy": {"fraction": args.noise, "seed": args.seed,
                  **ranking_figures(ranked, changed),
                  "flagged_is_issue": len(flagged),
                  "flagged_recall": round(len(changed & flagged) / len(changed), 4),
                  "flagged_precision": round(len(changed & flagged) / max(len(flagged), 1), 4),
                  "wall_seconds_without_extraction": round(noisy_seconds, 1)},
    }
    write_results(result, "audit_caltech101", args.json, overwrite=args.overwrite)
    return result


if __name__ == "__main__":
    main()

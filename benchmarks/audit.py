"""The data audit on the full Caltech-101: planted wrong labels found, duplicates, wall time;
prints JSON.

Two audits of the same 8,677 images (101 classes, no BACKGROUND_Google), from one feature
extraction: the data as it is (wall time against the extraction, duplicates and how many
cross the flagship's train/test split, the top suspects for a person to look at), then
with ``--noise`` of the labels changed to another class (seeded; the files are not
touched, an ImageSet carries the changed labels): the share of changed labels among the
first 2x and 1x (number changed) rows of the ranking. A third audit, from the same features
plus those of 60 planted images in random classes (10 blank, 10 noise, 10 screenshots,
generated in a temporary folder; 30 unrelated photos of Caltech's BACKGROUND_Google), says
how many of each kind the outlier rule catches.

    python benchmarks/audit.py --data-dir PATH/101_ObjectCategories \\
        --weights PATH/mobilenet_v2_...no_top.weights.h5 [--page-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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


def junk_images(folder: Path, seed: int) -> dict[str, list[str]]:
    """10 blank scans, 10 noise images and 10 screenshots written to ``folder``."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    made: dict[str, list[str]] = {"blank": [], "noise": [], "screenshot": []}
    shades = ["white", "black", (128, 128, 128), (245, 240, 225), (200, 200, 200),
              (30, 30, 30), (250, 250, 250), (60, 90, 160), (230, 230, 240), (10, 10, 10)]
    words = "the quick brown fox jumps over a lazy dog settings file edit view help".split()
    for i in range(10):
        w, h = [(300, 200), (640, 480), (200, 300), (400, 400), (500, 350)][i % 5]
        blank = np.asarray(Image.new("RGB", (w, h), shades[i])).astype(float)
        if i % 2:  # a scan: faint noise
            blank = blank + rng.normal(0, 3, blank.shape)
        noise = [rng.integers(0, 256, (h, w, 3)),
                 np.repeat(np.clip(rng.normal(128, 50, (h, w, 1)), 0, 255), 3, 2),
                 np.where(rng.random((h, w, 1)) < 0.5, 0, 255).repeat(3, 2),
                 np.asarray(Image.fromarray(rng.integers(0, 256, (h // 20 + 1, w // 20 + 1, 3),
                            dtype="uint8")).resize((w, h), Image.BICUBIC))][i % 4]
        page = Image.new("RGB", (800, 600), [(255, 255, 255), (236, 236, 236), (255, 255, 255),
                                             (20, 20, 20), (255, 255, 255)][i % 5])
        draw, kind = ImageDraw.Draw(page), i % 5
        if kind == 1:  # a dialog: title bar and buttons
            draw.rectangle((0, 0, 800, 30), fill=(50, 90, 170))
            for b in range(3):
                draw.rectangle((680 - 120 * b, 540, 780 - 120 * b, 575), fill=(210, 210, 210),
                               outline="black")
        if kind == 2:  # a spreadsheet grid
            for x in range(0, 800, 80):
                draw.line((x, 0, x, 600), fill=(180, 180, 180))
            for y in range(0, 600, 20):
                draw.line((0, y, 800, y), fill=(180, 180, 180))
        if kind == 4:  # a web page: header, sidebar, banner
            draw.rectangle((0, 0, 800, 60), fill=(230, 80, 40))
            draw.rectangle((0, 60, 150, 600), fill=(240, 240, 240))
            draw.rectangle((180, 90, 770, 250), fill=(120, 170, 220))
        ink = (80, 230, 80) if kind == 3 else (20, 20, 20)
        for y in range(270 if kind == 4 else 40, 580, 16):
            draw.text((180 if kind == 4 else 30, y), " ".join(rng.choice(words, 8)), fill=ink)
        for kind_name, image in (("blank", Image.fromarray(np.clip(blank, 0, 255).astype("uint8"))),
                                 ("noise", Image.fromarray(noise.astype("uint8"))),
                                 ("screenshot", page)):
            path = folder / f"{kind_name}_{i:02d}.png"
            image.save(path)
            made[kind_name].append(str(path))
    return made


def planted_outliers(folder: tlkit.ImageSet, features: np.ndarray, args: argparse.Namespace,
                     ) -> dict:
    """The outlier rule on the data with 60 planted junk images (random labels)."""
    rng = np.random.default_rng(args.seed)
    background = sorted(str(p) for p in (Path(folder.root) / "BACKGROUND_Google").glob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        kinds = junk_images(Path(tmp), args.seed)
        kinds["unrelated photo"] = [background[i] for i in
                                    sorted(rng.choice(len(background), 30, replace=False))]
        extra = [p for paths in kinds.values() for p in paths]
        backbone = tlkit.build_backbone("mobilenet_v2", image_size=args.image_size,
                                        weights=args.weights)
        extra_features, _ = tlkit.extract_features(
            backbone, tlkit.ImageSet(extra, [0] * len(extra), ["junk"]), verbose=0)
        images = tlkit.ImageSet(folder.paths + extra, np.concatenate(
            [folder.labels, rng.integers(0, folder.num_classes, len(extra))]), folder.class_names)
        found = tlkit.audit(images, weights=args.weights, image_size=args.image_size,
                            features=np.concatenate([features, extra_features]),
                            outlier_threshold=min(THRESHOLDS), verbose=0)
    by_threshold = {}
    for threshold in THRESHOLDS:  # the rule at each threshold, from the z of the lowest
        flagged = set(found.outliers.loc[found.outliers["z"] < -threshold, "path"])
        by_threshold[str(threshold)] = {
            "real_images_flagged": len(flagged - set(extra)),
            **{kind: f"{len(flagged & set(paths))}/{len(paths)}" for kind, paths in kinds.items()}}
    return by_threshold


THRESHOLDS = (3.0, 3.5, 4.0)


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

    planted = planted_outliers(folder, clean.features, args)
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
            "outliers": [{"path": str(Path(r.path).relative_to(folder.root)),
                          "nearest_class": r.nearest_class, "z": round(r.z, 2)}
                         for r in clean.outliers.itertuples()],
            "class_overlap_top5": clean.class_overlap.head(5).round(4).to_dict("records"),
            "class_overlap_sharing_photos": clean.class_overlap[
                clean.class_overlap["shared_photos"] > 0].round(4).to_dict("records"),
            "class_overlap_rows": len(clean.class_overlap)},
        "planted_outliers": planted,
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

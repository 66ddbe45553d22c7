"""The data audit: label issues out of fold, duplicates, outliers, class overlap, its folder.

Fast tests use synthetic features (the findings) or tiny generated images through the
registered ``tiny_test_net`` backbone with ``weights=None`` (the whole audit); one real-data
test plants wrong labels and re-encoded copies in ten Caltech-101 classes.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import tlkit
from tlkit.auditing.duplicates import duplicate_pairs
from tlkit.auditing.findings import class_overlap, label_issues, outliers, typicality
from tlkit.auditing.probabilities import out_of_fold_probabilities
from tlkit.cli import main

TINY = {"backbone": "tiny_test_net", "weights": None, "image_size": 32, "folds": 3,
        "verbose": 0}


def _blobs(n: int = 30, k: int = 3, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, (k, dim))
    labels = np.repeat(np.arange(k), n)
    return (centres[labels] + rng.normal(0, 1, (n * k, dim))).astype("float32"), labels


# Findings on synthetic features --------------------------------------------------------------
def test_a_flipped_label_ranks_first_out_of_fold() -> None:
    features, labels = _blobs()
    labels = labels.copy()
    labels[[5, 40]] = [2, 0]  # two images given a wrong class
    p = out_of_fold_probabilities(features, labels, num_classes=3, folds=5, verbose=0)
    names = ["a", "b", "c"]
    similarity, _ = typicality(features, labels, 3)
    issues = label_issues(p, labels, names, [f"{i}.jpg" for i in range(90)], similarity)
    assert set(issues["path"].head(2)) == {"5.jpg", "40.jpg"}
    assert issues["score"].is_monotonic_increasing and len(issues) == 90
    first = issues.set_index("path").loc["5.jpg"]
    assert (first["given"], first["suggested"], first["verdict"]) == ("c", "a", "wrong label")
    assert bool(first["is_issue"]) and not issues.iloc[10:]["is_issue"].any()
    # In sample, the same model would have memorised the flip: out of fold it cannot.
    assert p[5, 2] < 0.2


def test_out_of_fold_probabilities_are_deterministic_and_checked() -> None:
    features, labels = _blobs()
    a = out_of_fold_probabilities(features, labels, num_classes=3, seed=1, verbose=0)
    b = out_of_fold_probabilities(features, labels, num_classes=3, seed=1, verbose=0)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.sum(1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="folds"):
        out_of_fold_probabilities(features, labels, num_classes=3, folds=1, verbose=0)


def test_an_image_far_from_every_class_is_an_outlier_not_a_duplicate() -> None:
    features, labels = _blobs()
    features[7] = 40.0  # far from everything
    similarity, nearest = typicality(features, labels, 3)
    far = outliers(similarity, nearest, labels, ["a", "b", "c"], [f"{i}" for i in range(90)])
    # Far beyond the rest: the tail of a Gaussian blob (cosine to its class) comes next.
    assert far["path"].iloc[0] == "7" and far["z"].iloc[0] < -20 and (far["z"].iloc[1:] > -10).all()


def test_planted_blank_and_noise_images_are_outliers(tmp_path: Path) -> None:
    # Junk looks like other junk: two blanks and a noise image, each filed in a class.
    # Nearest neighbours found them typical (they are each other's); class means do not.
    root = _folder(tmp_path / "images", n=12)
    Image.new("RGB", (32, 32), "white").save(root / "red" / "blank_white.png")
    Image.new("RGB", (32, 32), (128, 128, 128)).save(root / "green" / "blank_grey.png")
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype="uint8")
    Image.fromarray(noise).save(root / "blue" / "noise.png")
    # The tiny backbone's weights are random: seeded, since with some draws (3 and 7 of
    # 0-7) one or two ordinary images of these 39 also reach z -3.6 to -4.1.
    keras.utils.set_random_seed(0)
    found = tlkit.audit(root, **TINY)
    assert sorted(Path(p).name for p in found.outliers["path"]) == \
        ["blank_grey.png", "blank_white.png", "noise.png"]
    assert found.counts["outliers"] == 3 and found.settings["outlier_threshold"] == 3.5
    assert (found.outliers["z"] < -3.5).all()


def test_alone_in_its_class_is_close_to_no_class() -> None:
    features, labels = _blobs(n=10)
    labels = np.append(labels, 3)
    features = np.concatenate([features, features[:1]])  # a copy of a class-0 image in class 3
    similarity, nearest = typicality(features, labels, 4)
    assert nearest[-1] == 0 and similarity[-1] > 0.9  # its own class (itself) does not count
    assert (nearest[10:30] == labels[10:30]).all()  # (class 0's images may be nearest to 3)


def test_duplicates_are_tagged_by_class_and_split() -> None:
    features = np.random.default_rng(0).normal(0, 1, (8, 32)).astype("float32")
    labels = np.repeat([0, 1], 4)
    features[1] = features[0] * 1.01 + 0.01  # a near copy, same class
    features[5] = features[2] + 1e-4  # a near copy in the other class
    hashes = [str(i) for i in range(8)]
    hashes[7] = hashes[3]  # same bytes, other class
    parts = ["train"] * 6 + ["test"] * 2
    pairs = duplicate_pairs(features, hashes, labels, ["a", "b"], [f"{i}" for i in range(8)],
                            parts=parts)
    found = {(r.path_a, r.path_b): (r.kind, r.classes, r.splits) for r in pairs.itertuples()}
    assert found == {("0", "1"): ("near", "same", ""), ("2", "5"): ("near", "different", ""),
                     ("3", "7"): ("exact", "different", "train/test")}
    assert pairs["similarity"].iloc[-1] < 0.5  # same bytes, whatever the features say


def test_class_overlap_finds_the_mixed_pair() -> None:
    labels = np.array([0] * 10 + [1] * 10 + [2] * 10)
    p = np.eye(3)[labels].astype("float32")
    p[[0, 1, 12]] = np.eye(3)[[1, 1, 0]]  # a and b mixed three times
    overlap = class_overlap(p, labels, ["a", "b", "c"])
    assert overlap.iloc[0].tolist() == ["a", "b", 2, 1, 0.2, 0.1, 0.2, 0] and len(overlap) == 1


def test_class_overlap_rates_each_direction_and_counts_shared_photos() -> None:
    # A small class taken for a large one: a pooled rate (6 of 106) would hide that
    # most of the small class goes the other way.
    labels = np.array([0] * 100 + [1] * 6 + [2] * 50 + [3] * 50)
    p = np.eye(4)[labels].astype("float32")
    p[[100, 101, 102, 103, 104]] = np.eye(4)[0]
    # Classes 2 and 3 are told apart every time, but hold the same photo twice.
    names = ["large", "small", "faces", "faces_easy"]
    pairs = pd.DataFrame({"given_a": ["faces", "faces_easy", "large"],
                          "given_b": ["faces_easy", "faces", "large"]})
    overlap = class_overlap(p, labels, names, pairs).set_index(["class_a", "class_b"])
    assert overlap.loc[("large", "small"), ["b_as_a", "b_as_a_rate", "rate"]].tolist() == \
        [5, 5 / 6, 5 / 6]
    assert overlap.loc[("faces", "faces_easy"), ["rate", "shared_photos"]].tolist() == [0, 2]
    assert len(overlap) == 2


def test_count_near_duplicates_is_the_leakage_count() -> None:
    train, _ = _blobs()
    test = np.concatenate([train[:3] * 1.001, np.full((2, 8), -50.0)])
    assert tlkit.count_near_duplicates(test, train) == 3
    assert tlkit.count_near_duplicates(test[3:], train) == 0
    with pytest.raises(ValueError, match="duplicate_threshold"):
        tlkit.count_near_duplicates(test, train, duplicate_threshold=1.5)
    with pytest.raises(ValueError, match="reference"):
        tlkit.count_near_duplicates(test, train[:, :4])


# The whole audit on tiny images --------------------------------------------------------------
def _folder(root: Path, n: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for name, colour in (("red", 0), ("green", 1), ("blue", 2)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 60, (32, 32, 3), dtype="uint8")
            pixels[..., colour] = 200 + rng.integers(0, 50, (32, 32))
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    shutil.copy(root / "red" / "0.png", root / "blue" / "copy_of_red_0.png")
    return root


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_audit_a_folder_reads_it_only_and_saves_every_file(tmp_path: Path) -> None:
    root = _folder(tmp_path / "images")
    before = _digests(root)
    found = tlkit.audit(root, **TINY)
    assert _digests(root) == before  # nothing moved or changed
    assert len(found.label_issues) == 25 and found.features.shape == (25, 16)
    top = found.label_issues.iloc[0]  # the copy of a red image labelled blue
    assert (Path(top["path"]).name, top["given"], top["suggested"]) == \
        ("copy_of_red_0.png", "blue", "red")
    exact = found.duplicates[found.duplicates["kind"] == "exact"]
    assert [(Path(r.path_a).name, Path(r.path_b).name, r.classes) for r in exact.itertuples()] \
        == [("copy_of_red_0.png", "0.png", "different")]
    assert found.counts["exact_duplicate_pairs"] == 1 and "DataAudit(25 images" in repr(found)
    files = found.save(tmp_path / "audit")
    assert sorted(files) == sorted(tlkit.auditing.AUDIT_FILES)
    table = pd.read_csv(files["label_issues.csv"])
    assert table.columns[:4].tolist() == ["path", "given", "suggested", "score"]
    assert pd.read_csv(files["duplicates.csv"]).columns[:4].tolist() == \
        ["path_a", "path_b", "similarity", "kind"]
    page = files["index.html"].read_text()
    for section in ("Likely wrong labels", "Unusual images", "Duplicates", "Outliers",
                    "Class overlap", "data:image/jpeg;base64,"):
        assert section in page
    assert tlkit.auditing.DataAudit is tlkit.DataAudit
    with pytest.raises(FileExistsError, match="overwrite"):
        found.save(tmp_path / "audit")
    found.save(tmp_path / "audit", overwrite=True)
    again = tlkit.audit(root, **TINY, features=found.features)  # no second extraction
    pd.testing.assert_frame_equal(again.label_issues, found.label_issues)
    assert again.settings["features"] == "given" and found.settings["features"] == "extracted"


def test_audit_a_split_tags_pairs_across_parts(tmp_path: Path) -> None:
    root = _folder(tmp_path / "images")
    images = tlkit.ImageFolder(root, verbose=0)
    copy = images.paths.index(str(root / "blue" / "copy_of_red_0.png"))
    train = images.subset([i for i in range(len(images)) if i != copy])
    split = tlkit.Split(train, images.subset([]), images.subset([copy]))
    found = tlkit.audit(split, **TINY)
    assert set(found.label_issues["split"]) == {"train", "test"}
    exact = found.duplicates[found.duplicates["kind"] == "exact"]
    assert exact["splits"].tolist() == ["test/train"] or exact["splits"].tolist() == ["train/test"]
    assert found.counts["duplicate_pairs_across_splits"] >= 1


@pytest.mark.parametrize(("kwargs", "error", "argument"), [
    ({"data": 3}, TypeError, "data"),
    ({"folds": 1}, ValueError, "folds"),
    ({"folds": 2.5}, TypeError, "folds"),
    ({"duplicate_threshold": 0.0}, ValueError, "duplicate_threshold"),
    ({"outlier_threshold": -1.0}, ValueError, "outlier_threshold"),
    ({"data": "/no/such/folder"}, FileNotFoundError, "data"),
    ({"backbone": "nope"}, ValueError, "backbone"),
    ({"features": np.zeros((2, 16))}, ValueError, "features"),
])
def test_bad_arguments_name_themselves(tmp_path: Path, kwargs: dict, error: type,
                                       argument: str) -> None:
    call = {**TINY, "data": _folder(tmp_path / "images", n=3), **kwargs}
    with pytest.raises(error, match=argument):
        tlkit.audit(**call)


def test_one_class_is_not_enough(tmp_path: Path) -> None:
    root = _folder(tmp_path / "images", n=3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        tlkit.audit(tlkit.ImageFolder(root, verbose=0).select_classes(["red"]), **TINY)


def test_the_command_writes_the_audit_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _folder(tmp_path / "images")
    argv = ["audit", str(root), "--output-dir", str(tmp_path / "out"), "--backbone",
            "tiny_test_net", "--weights", "none", "--image-size", "32", "--verbose", "0"]
    assert main(argv) == 0
    assert '"exact_duplicate_pairs": 1' in capsys.readouterr().out
    assert (tmp_path / "out" / "index.html").exists()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


# Real data ---------------------------------------------------------------------------------
CLASSES = ["brain", "butterfly", "chandelier", "ewer", "grand_piano", "hawksbill", "ketch",
           "laptop", "revolver", "starfish"]


def _plant(caltech: Path, root: Path, seed: int = 0) -> tuple[set[str], list[tuple[str, str]]]:
    """Copy ten classes with 3 % of images moved to a wrong class and 5 re-encoded copies put
    in another class; return the moved files and the planted pairs (as written)."""
    rng = np.random.default_rng(seed)
    files = [(c, p) for c in CLASSES for p in sorted((caltech / c).iterdir())]
    moved_index = set(rng.choice(len(files), round(0.03 * len(files)), replace=False).tolist())
    moved, written = set(), []
    for i, (cls, path) in enumerate(files):
        target = cls
        if i in moved_index:
            target = str(rng.choice([c for c in CLASSES if c != cls]))
        (root / target).mkdir(parents=True, exist_ok=True)
        destination = root / target / f"{cls}_{path.name}"
        shutil.copy(path, destination)
        written.append(str(destination))
        if i in moved_index:
            moved.add(str(destination))
    pairs = []
    sources = [w for w in written if w not in moved]
    for j in rng.choice(len(sources), 5, replace=False).tolist():
        source = Path(sources[j])
        other = str(rng.choice([c for c in CLASSES if c != source.parent.name]))
        with Image.open(source) as image:
            image = image.convert("RGB")
            smaller = image.resize((image.width * 3 // 4, image.height * 3 // 4))
        buffer = io.BytesIO()
        smaller.save(buffer, format="JPEG", quality=60)
        copy = root / other / f"reencoded_{source.name}"
        copy.write_bytes(buffer.getvalue())
        pairs.append((str(source), str(copy)))
    return moved, pairs


@pytest.mark.real_data
def test_planted_wrong_labels_and_copies_are_found_on_caltech101(
        caltech_dir: Path, mobilenet_weights: Path, tmp_path: Path) -> None:
    # Measured: 28 of 28 moved images in the first 56 rows (22 in the first 28); the planted
    # pairs at similarity 0.981-0.995 (threshold 0.95). 96 px: re-encoded copies stay close.
    moved, pairs = _plant(caltech_dir, tmp_path / "images")
    assert len(moved) >= 20
    assert main(["audit", str(tmp_path / "images"), "--output-dir", str(tmp_path / "out"),
                 "--weights", str(mobilenet_weights), "--image-size", "96",
                 "--verbose", "0"]) == 0
    issues = pd.read_csv(tmp_path / "out" / "label_issues.csv")
    top = set(issues["path"].head(2 * len(moved)))
    assert len(moved & top) >= 0.9 * len(moved), sorted(moved - top)
    duplicates = pd.read_csv(tmp_path / "out" / "duplicates.csv")
    listed = {frozenset(pair) for pair in zip(duplicates["path_a"], duplicates["path_b"])}
    assert all(frozenset(pair) in listed for pair in pairs), duplicates.head()
    planted = duplicates[[frozenset(p) in {frozenset(q) for q in pairs}
                          for p in zip(duplicates["path_a"], duplicates["path_b"])]]
    assert set(planted["classes"]) == {"different"} and set(planted["kind"]) == {"near"}

"""Tests for tlkit.ranking: rank_backbones and BackboneRanking."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _helpers import TINY_SPEC_KWARGS
from PIL import Image

import tlkit
from tlkit.ranking import _sample



@pytest.fixture()
def second_tiny() -> Iterator[str]:
    """A second tiny backbone beside conftest's tiny_test_net: two candidates, little time."""
    tlkit.register_backbone(tlkit.BackboneSpec(**{**TINY_SPEC_KWARGS, "name": "tiny_rank_net"}))
    yield "tiny_rank_net"
    tlkit.unregister_backbone("tiny_rank_net")


def _folder(root: Path, per_class: tuple[int, ...] = (6, 4), size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for c, count in enumerate(per_class):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(count):
            # Each class its own colour, plus noise: an easy task for any features.
            pixels = np.clip(rng.normal(60 + 120 * c, 30, (size, size, 3)), 0, 255)
            Image.fromarray(pixels.astype("uint8")).save(root / f"class_{c}" / f"{i}.png")
    return root


def test_rank_backbones_scores_each_candidate_and_orders_them(tmp_path: Path,
                                                             second_tiny: str) -> None:
    folder = _folder(tmp_path / "data")
    ranking = tlkit.rank_backbones(folder, ["tiny_test_net", "tiny_rank_net"],
                                   weights=None, image_size=32, verbose=0)
    assert ranking.images == 10 and ranking.num_classes == 2
    table = ranking.table
    assert set(table.index) == {"tiny_test_net", "tiny_rank_net"}
    assert list(table["logme"]) == sorted(table["logme"], reverse=True)  # best first
    assert ranking.order == list(table.index)
    assert set(ranking.order_by("knn_accuracy")) == set(ranking.order)
    assert ((table["knn_accuracy"] >= 0) & (table["knn_accuracy"] <= 1)).all()
    assert (table[["feature_seconds", "logme_seconds", "knn_seconds"]] >= 0).all().all()
    assert ranking.seconds >= table["feature_seconds"].sum()
    record = json.loads(json.dumps(ranking.to_dict()))
    assert record["order_by_logme"] == ranking.order and record["images"] == 10
    assert "Backbones ranked by logme on 10 images of 2 classes" in str(ranking)
    by_knn = tlkit.BackboneRanking(table, images=10, num_classes=2, by="knn_accuracy")
    assert by_knn.order == ranking.order_by("knn_accuracy")


def test_the_sample_is_stratified_and_keeps_two_per_class() -> None:
    labels = np.array([0] * 90 + [1] * 8 + [2] * 2)
    images = tlkit.ImageSet([f"{i}.png" for i in range(100)], labels, ["a", "b", "c"])
    picked = _sample(images, 20, seed=0)
    counts = np.bincount(picked.labels, minlength=3).tolist()
    assert counts == [18, 2, 2]  # in proportion, at least 2 each
    assert _sample(images, 20, seed=0).paths == picked.paths  # seeded
    assert _sample(images, 500, seed=0) is images


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"candidates": ["mobilenet_v9"]}, ValueError, "Unknown backbone name"),
    ({"candidates": []}, ValueError, "at least one backbone"),
    ({"candidates": "mobilenet_v2"}, TypeError, "candidates must be"),
    ({"by": "accuracy"}, ValueError, "Unknown by"),
    ({"sample": 2}, ValueError, "sample must be"),
])
def test_bad_arguments_fail_before_any_backbone_is_built(
        tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    images = tlkit.ImageSet(["a.png", "b.png"], [0, 1], ["a", "b"])  # files never read
    with pytest.raises(error, match=match):
        tlkit.rank_backbones(images, **{"weights": None, **kwargs})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tlkit.rank_backbones(tmp_path / "missing")

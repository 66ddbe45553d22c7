"""Tests for tlkit.data: ImageFolder scanning, splits and tf.data pipelines."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import tlkit
import tlkit.data.folder as folder_module
from tlkit import ClassifierHead, ImageFolder, ImageSet, build_backbone, build_classifier
from tlkit.datasets import load_caltech101

RNG = np.random.default_rng(0)


def _rgb(h: int = 20, w: int = 30) -> np.ndarray:
    return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    """A folder with every kind of trouble a real image folder has."""
    root = tmp_path / "messy"
    for name in ("apple", "banana", "cherry", "solo"):
        (root / name).mkdir(parents=True)
    Image.fromarray(_rgb()).save(root / "apple" / "good.jpg")
    Image.fromarray(_rgb()).convert("CMYK").save(root / "apple" / "cmyk.jpg")
    Image.fromarray(_rgb()[:, :, 0]).save(root / "apple" / "gray.jpg")
    good = (root / "apple" / "good.jpg").read_bytes()
    (root / "apple" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "apple" / "zero.jpg").write_bytes(b"")
    (root / "banana" / "text.jpg").write_text("this is not a picture")
    rgba = np.dstack([_rgb(), np.full((20, 30), 100, np.uint8)])
    Image.fromarray(rgba).save(root / "banana" / "alpha.png")
    Image.fromarray(_rgb()).save(root / "banana" / "no_extension", format="JPEG")
    Image.fromarray(_rgb()).convert("P").save(root / "banana" / "palette.gif")
    (root / "cherry" / "nested" / "deeper").mkdir(parents=True)
    Image.fromarray(_rgb()).save(root / "cherry" / "nested" / "deeper" / "inside.bmp")
    Image.fromarray(_rgb()).save(root / "cherry" / "top.png")
    Image.fromarray(_rgb()).save(root / "solo" / "only.jpg")
    (root / ".hidden").mkdir()
    (root / "README.txt").write_text("not a class")
    return root


def test_messy_folder_keeps_good_images_and_reports_bad_ones(messy: Path) -> None:
    folder = ImageFolder(messy, cache_dir=False)
    assert folder.class_names == ["apple", "banana", "cherry", "solo"]
    kept = {Path(p).relative_to(messy).as_posix() for p in folder.paths}
    assert kept == {"apple/cmyk.jpg", "apple/good.jpg", "apple/gray.jpg", "banana/alpha.png",
                    "banana/no_extension", "banana/palette.gif",
                    "cherry/nested/deeper/inside.bmp", "cherry/top.png", "solo/only.jpg"}
    reasons = {Path(p).name: r for p, r in zip(folder.skipped["path"], folder.skipped["reason"])}
    assert reasons["zero.jpg"] == "empty file"
    assert reasons["text.jpg"] == "not an image (unrecognised content)"
    assert reasons["truncated.jpg"].startswith("cannot decode jpeg")
    assert len(reasons) == 3
    assert folder.counts.to_dict() == {"apple": 3, "banana": 3, "cherry": 2, "solo": 1}
    assert "skipped 3 files" in folder.summary()

    # Every kept image decodes to 3 channels, and training over them does not crash.
    dataset = folder.to_dataset(4, image_size=32, shuffle=True, seed=0)
    batches = list(dataset.as_numpy_iterator())
    assert sum(len(b[1]) for b in batches) == 9
    assert all(b[0].shape[1:] == (32, 32, 3) and b[0].dtype == np.float32 for b in batches)
    # tf.data's autotuner is off: with it, a pass ended on one of its timer ticks (1x-2x)
    assert dataset.options().autotune.enabled is False
    backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
    model = build_classifier(backbone, ClassifierHead(4, hidden_units=()))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_strict_mode_raises_on_the_first_bad_file(messy: Path) -> None:
    with pytest.raises(ValueError, match=r"Bad image file .*(truncated|zero|text)\.jpg"):
        ImageFolder(messy, strict=True, cache_dir=False)


def test_scan_cache_makes_a_second_scan_skip_decoding(messy: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = ImageFolder(messy, cache_dir=cache)
    calls: list[str] = []
    original = folder_module.check_decodes
    monkeypatch.setattr(folder_module, "check_decodes", lambda p: calls.append(p) or original(p))
    second = ImageFolder(messy, cache_dir=cache)
    assert calls == []
    assert second.paths == first.paths
    assert second.skipped.equals(first.skipped)
    # A changed file is checked again (size and modification time are the key).
    target = messy / "apple" / "good.jpg"
    Image.fromarray(_rgb(10, 10)).save(target)
    os.utime(target, ns=(1, 1))
    ImageFolder(messy, cache_dir=cache)
    assert calls == [str(target)]


def test_a_file_that_could_not_be_read_is_checked_again_next_scan(
        messy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporary failure (permission, I/O, a file still being copied) must not be cached:
    the scan cache keeps only verdicts about content."""
    cache = tmp_path / "cache"
    target = str(messy / "apple" / "good.jpg")
    original = folder_module.check_decodes
    monkeypatch.setattr(folder_module, "check_decodes", lambda p: (
        "unreadable: Permission denied" if p == target else original(p)))
    first = ImageFolder(messy, cache_dir=cache, verbose=0)
    assert target not in first.paths
    assert "unreadable: Permission denied" in first.skipped["reason"].tolist()
    calls: list[str] = []
    monkeypatch.setattr(folder_module, "check_decodes", lambda p: calls.append(p) or original(p))
    second = ImageFolder(messy, cache_dir=cache, verbose=0)
    assert calls == [target]  # checked again; the content verdicts came from the cache
    assert target in second.paths
    # A verdict about content (a text file named .jpg) stays cached.
    assert "not an image (unrecognised content)" in second.skipped["reason"].tolist()


def test_bad_roots_and_excludes(tmp_path: Path, messy: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="has no class folders"):
        ImageFolder(tmp_path / "flat")
    with pytest.raises(ValueError, match="'durian' is not a folder.*apple, banana, cherry, solo"):
        ImageFolder(messy, exclude=["durian"], cache_dir=False)
    (messy / "empty_class").mkdir()
    (messy / "empty_class" / "bad.jpg").write_text("x")
    with pytest.raises(ValueError, match=r"no usable image: \['empty_class'\]"):
        ImageFolder(messy, cache_dir=False)
    folder = ImageFolder(messy, exclude=["empty_class", "solo"], cache_dir=False)
    assert folder.class_names == ["apple", "banana", "cherry"]
    assert folder.excluded == ["empty_class", "solo"]


label_lists = st.lists(st.integers(0, 6), min_size=1, max_size=150)


@pytest.mark.filterwarnings("ignore:.*too few images")
@settings(max_examples=60, deadline=None)
@given(labels=label_lists, val=st.floats(0, 0.4), test=st.floats(0, 0.4),
       seed=st.integers(0, 1000))
def test_splits_are_disjoint_cover_stratified_and_deterministic(
    labels: list[int], val: float, test: float, seed: int
) -> None:
    images = ImageSet([f"{i}.jpg" for i in range(len(labels))], labels,
                      [f"c{i}" for i in range(7)])
    parts = images.split(val=val, test=test, seed=seed)
    sets = [set(part.paths) for part in parts]
    assert sets[0].isdisjoint(sets[1]) and sets[0].isdisjoint(sets[2]) and sets[1].isdisjoint(sets[2])
    assert set().union(*sets) == set(images.paths)
    counts = images.counts
    for fraction, part in ((test, parts.test), (val, parts.val)):
        for name, n in counts.items():
            if n >= 3:  # enough images for every split
                assert abs(part.counts[name] - fraction * n) <= 1
                if fraction > 0:
                    assert part.counts[name] >= 1
    again = images.split(val=val, test=test, seed=seed)
    assert [p.paths for p in again] == [p.paths for p in parts]
    # Labels travel with their paths.
    for part in parts:
        assert all(images.labels[int(Path(p).stem)] == y for p, y in zip(part.paths, part.labels))


def test_small_classes_warn_and_train_first() -> None:
    images = ImageSet(["a", "b", "c", "d", "e"], [0, 0, 0, 0, 1], ["big", "tiny"])
    with pytest.warns(UserWarning, match=r"kept them for training first: 'tiny' \(1 image\): no test, no val"):
        parts = images.split(val=0.25, test=0.25, seed=0)
    assert parts.train.counts["tiny"] == 1 and parts.test.counts["tiny"] == 0


def test_bad_split_fractions() -> None:
    images = ImageSet(["a", "b"], [0, 1], ["x", "y"])
    with pytest.raises(ValueError, match="val \\+ test must be below 1.*= 1"):
        images.split(val=0.5, test=0.5)
    with pytest.raises(ValueError, match=r"test must be a number in \[0, 1\). Received: test=1.2"):
        images.split(test=1.2)


def test_split_per_class_protocol() -> None:
    labels = [0] * 40 + [1] * 100 + [2] * 31
    images = ImageSet([f"{i}" for i in range(len(labels))], labels, ["a", "b", "c"])
    parts = images.split_per_class(train=30, test=50, seed=1)
    assert parts.train.counts.tolist() == [30, 30, 30]
    assert parts.test.counts.tolist() == [10, 50, 1]
    assert len(parts.val) == 0
    assert set(parts.train.paths).isdisjoint(parts.test.paths)
    with pytest.raises(ValueError, match="no more than train \\+ val = 31"):
        images.split_per_class(train=30, val=1)


def test_resize_modes_and_cache(tmp_path: Path) -> None:
    wide = np.full((20, 60, 3), 200, np.uint8)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    images = ImageSet([str(tmp_path / "wide.png")], [0], ["x"])
    stretch = next(images.to_dataset(1, image_size=30).as_numpy_iterator())[0][0]
    pad = next(images.to_dataset(1, image_size=30, resize="pad").as_numpy_iterator())[0][0]
    crop = next(images.to_dataset(1, image_size=(30, 20), resize="crop").as_numpy_iterator())[0][0]
    assert stretch.shape == pad.shape == (30, 30, 3) and crop.shape == (30, 20, 3)
    assert np.all(stretch == 200) and np.all(crop == 200)
    assert np.all(pad[0] == 0) and np.all(pad[15] == 200)  # black bars above and below
    cached = images.to_dataset(1, image_size=30, cache=True)
    np.testing.assert_array_equal(next(cached.as_numpy_iterator())[0][0], stretch)
    with pytest.raises(ValueError, match="Unknown resize.*Received: resize='fit'"):
        images.to_dataset(1, resize="fit")
    with pytest.raises(ValueError, match="batch_size must be"):
        images.to_dataset(0)
    with pytest.raises(ValueError, match="empty"):
        images.subset([]).to_dataset(1)


def test_augmentation_and_paths_in_the_pipeline(messy: Path) -> None:
    from tlkit import AugmentationPolicy

    folder = ImageFolder(messy, cache_dir=False)
    plain = folder.to_dataset(16, image_size=24, with_paths=True)
    x, y, paths = next(plain.as_numpy_iterator())
    assert [p.decode() for p in paths] == folder.paths
    augmented = folder.to_dataset(16, image_size=24, augment=AugmentationPolicy(
        flip="horizontal_and_vertical", rotation=0.2, seed=0))
    xa, ya = next(augmented.as_numpy_iterator())
    np.testing.assert_array_equal(ya, y)
    assert xa.shape == x.shape and not np.array_equal(xa, x)


@pytest.mark.real_data
def test_real_caltech101(caltech_dir: Path) -> None:
    folder = load_caltech101(caltech_dir)
    assert len(folder) == 8677 and folder.num_classes == 101
    assert "BACKGROUND_Google" not in folder.class_names
    assert folder.counts.min() == 31 and folder.counts.max() == 800
    assert len(folder.skipped) == 0
    with_background = load_caltech101(caltech_dir, include_background=True)
    assert with_background.num_classes == 102
    assert any(p.endswith("BACKGROUND_Google/tmp") for p in with_background.paths)
    # Grayscale JPEGs come out with 3 channels.
    gray = [p for p in folder.paths if p.endswith("car_side/image_0001.jpg")]
    assert Image.open(gray[0]).mode == "L"
    subset = ImageSet(gray, [0], ["car_side"])
    pixels = next(subset.to_dataset(1, image_size=64).as_numpy_iterator())[0]
    assert pixels.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])


def test_split_warning_names_exactly_the_classes_and_splits_missed() -> None:
    labels = [0] + [1] * 2 + [2] * 10
    images = ImageSet([f"{i}.jpg" for i in range(len(labels))], labels, ["one", "two", "ten"])
    with pytest.warns(UserWarning) as record:
        images.split(val=0.1, test=0.2, seed=0)
    message = str(record[0].message)
    assert message.startswith("2 classes have too few images")
    assert "'one' (1 image): no test, no val" in message
    assert "'two' (2 images): no val" in message
    assert "'ten'" not in message
    # Without validation a 2-image class fits (1 train, 1 test): only 'one' is named.
    with pytest.warns(UserWarning) as record:
        images.split(val=0.0, test=0.2, seed=0)
    assert "'one' (1 image): no test" in str(record[0].message)
    assert "'two'" not in str(record[0].message)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images.subset(np.flatnonzero(np.asarray(labels) == 2)).split(val=0.1, test=0.2)


def _tiny_images(root: Path, classes: str, n: int = 1) -> Path:
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8, 3), (10 * i) % 256, "uint8")).save(root / name / f"{i}.png")
    return root


def test_split_parts_are_matched_to_the_training_classes_by_name(tmp_path: Path) -> None:
    """val/ without class b: its c images are c (index 2), not b (index 1) as by position."""
    train = ImageFolder(_tiny_images(tmp_path / "train", "abc"), cache_dir=False, verbose=0)
    val = ImageFolder(_tiny_images(tmp_path / "val", "ac", n=2), cache_dir=False, verbose=0)
    parts = tlkit.Split(train, val, ImageSet([], [], ["a"])).matched()
    assert parts.val.class_names == ["a", "b", "c"]
    assert parts.val.labels.tolist() == [0, 0, 2, 2]
    assert [Path(p).parent.name for p in parts.val.paths] == ["a", "a", "c", "c"]
    assert parts.missing_classes() == {"val": ["b"]}
    stranger = ImageFolder(_tiny_images(tmp_path / "test", "ad"), cache_dir=False, verbose=0)
    with pytest.raises(ValueError, match=r"test has images of 1 class the training classes "
                                         r"lack: \['d'\]"):
        tlkit.Split(train, val, stranger).matched()


def test_pre_split_folders_are_found_and_ambiguous_trees_refused(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    _tiny_images(root / "train", "abc", n=3)
    _tiny_images(root / "valid", "bc")
    parts = ImageFolder.from_splits(root, cache_dir=False, verbose=0)
    assert [len(p) for p in parts] == [9, 2, 0]
    assert parts.val.labels.tolist() == [1, 2] and parts.train.class_names == ["a", "b", "c"]
    # A folder of classes that happen to include "train" (vehicles) is a folder of classes.
    vehicles = _tiny_images(tmp_path / "vehicles", ["bus", "train"])
    assert folder_module.find_split_folders(vehicles) is None
    with pytest.raises(ValueError, match="is not a pre-split tree"):
        ImageFolder.from_splits(vehicles, cache_dir=False, verbose=0)
    _tiny_images(root / "validation", "a")
    with pytest.raises(ValueError, match="two folders for the val split: 'valid' and 'validation'"):
        folder_module.find_split_folders(root)
    loose = _tiny_images(tmp_path / "loose" / "train", "a").parent
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(loose / "train" / "stray.png")
    with pytest.raises(ValueError, match=r"files directly in a split folder: \['stray.png'\]"):
        folder_module.find_split_folders(loose)
    no_train = _tiny_images(tmp_path / "only_test" / "test", "ab").parent
    with pytest.raises(ValueError, match="there is no train folder"):
        folder_module.find_split_folders(no_train)


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one for every image the pipeline decodes from here on."""
    import tensorflow as tf

    import tlkit.data.pipeline as pipeline

    decoded: list[int] = []
    original = pipeline.decode_resized

    def counting(path: tf.Tensor, *args: object) -> tf.Tensor:
        count = tf.py_function(lambda: decoded.append(1) or 0, [], tf.int32)
        with tf.control_dependencies([count]):
            return tf.identity(original(path, *args))

    monkeypatch.setattr(pipeline, "decode_resized", counting)
    return decoded


def test_shuffle_decodes_only_what_the_first_batch_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are shuffled, then decoded: a buffer of decoded images would decode all 200
    images (the whole set in memory) before the first batch comes out."""
    root = _tiny_images(tmp_path / "many", "ab", n=100)
    images = ImageFolder(root, cache_dir=False, verbose=0)
    decoded = _count_decodes(monkeypatch)
    dataset = images.to_dataset(2, image_size=8, shuffle=True, seed=0)
    pixels, _ = next(iter(dataset))
    assert pixels.shape == (2, 8, 8, 3)
    assert len(decoded) < len(images) / 2, f"{len(decoded)} of {len(images)} decoded"
    labels = np.concatenate([y.numpy() for _, y in dataset])  # one full pass: every image once
    assert sorted(labels.tolist()) == sorted(images.labels.tolist())


def test_pre_split_trees_as_split_scripts_and_zips_leave_them(tmp_path: Path) -> None:
    """An empty class folder in val/ (a class too small to split), an empty test/, a
    __MACOSX folder: read as splits; a stray folder beside train/ and test/ is an error,
    never a model of the classes "train" and "test"."""
    root = tmp_path / "download"
    _tiny_images(root / "train", "abc", n=3)
    _tiny_images(root / "val", "ac")
    (root / "val" / "b").mkdir()
    (root / "test").mkdir()
    (root / "__MACOSX").mkdir()
    with pytest.warns(UserWarning, match=r"val/ has empty class folders, left out: \['b'\]"):
        parts = ImageFolder.from_splits(root, cache_dir=False, verbose=0)
    assert [len(p) for p in parts] == [9, 2, 0] and parts.val.labels.tolist() == [0, 2]
    with pytest.warns(UserWarning):
        assert len(ImageFolder.from_splits(root, exclude=["c"], cache_dir=False,
                                           verbose=0).train.class_names) == 2
    stray = tmp_path / "stray"
    _tiny_images(stray / "train", "ab")
    _tiny_images(stray / "test", "ab")
    (stray / "runs").mkdir()
    with pytest.raises(ValueError, match=r"looks pre-split \(test, train\) but also holds "
                                         r"\['runs'\]"):
        folder_module.find_split_folders(stray)


def test_scan_checks_in_order_with_a_bounded_number_of_calls_pending() -> None:
    from collections.abc import Callable
    from concurrent.futures import Future

    class Pool:  # runs each call when submitted; counts the futures not yet read
        pending = most = 0

        def submit(self, function: Callable[[str], str], item: str) -> Future:
            future: Future = Future()
            future.set_result(function(item))
            Pool.pending += 1
            Pool.most = max(Pool.most, Pool.pending)
            return future

    results = []
    for result in folder_module._map_in_order(Pool(), str.upper, [f"f{i}" for i in range(50)],
                                              window=8):
        Pool.pending -= 1
        results.append(result)
    assert results == [f"F{i}" for i in range(50)]
    assert Pool.most == 8  # Executor.map would hold all 50 (1.7 KB each) at once


def test_an_in_memory_copy_gives_the_files_batches_without_decoding_them(
        messy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    import tlkit.data.pipeline as pipeline

    folder = ImageFolder(messy, cache_dir=False, verbose=0)
    memory = folder.in_memory(24, verbose=0)
    assert (memory.paths, memory.class_names) == (folder.paths, folder.class_names)
    np.testing.assert_array_equal(memory.labels, folder.labels)
    decoded = _count_decodes(monkeypatch)
    epoch = tf.Variable(3, dtype=tf.int64)
    for kwargs in ({}, {"with_paths": True}, {"shuffle": True, "seed": 5},
                   {"shuffle": True, "seed": 5, "epoch": epoch}, {"cache": True}):
        read = [list(b) for b in memory.to_dataset(3, image_size=24, **kwargs)
                .as_numpy_iterator()]
        assert not decoded, kwargs  # every pixel came from memory
        from_files = [list(b) for b in folder.to_dataset(3, image_size=24, **kwargs)
                      .as_numpy_iterator()]
        decoded.clear()
        assert len(read) == len(from_files)
        for a, b in zip(read, from_files):
            for part_a, part_b in zip(a, b):
                np.testing.assert_array_equal(part_a, part_b)
    next(iter(memory.to_dataset(3, image_size=16)))  # another size reads the files
    assert decoded
    with pytest.raises(ValueError, match=r"pixels must have shape \(9, 24, 24, 3\).*"
                                         r"Received: \(9, 16, 16, 3\)"):
        pipeline.make_dataset(
            folder.paths, folder.labels, batch_size=2, image_size=24, shuffle=False,
            augment=None, cache=False, resize="stretch", seed=None, repeat=False,
            drop_remainder=False, with_paths=False,
            pixels=tf.zeros((9, 16, 16, 3), tf.uint8))


def test_epoch_sizes_resize_the_first_passes_and_leave_the_rest(messy: Path) -> None:
    import tensorflow as tf

    folder = ImageFolder(messy, cache_dir=False, verbose=0)
    epoch = tf.Variable(0, dtype=tf.int64)
    dataset = folder.to_dataset(4, image_size=24, shuffle=True, seed=0, epoch=epoch,
                                epoch_sizes=[16, (12, 20)])
    assert dataset.element_spec[0].shape.as_list() == [None, None, None, 3]
    shapes = []
    for now in range(3):
        epoch.assign(now)
        shapes.append({x.shape[1:3] for x, _ in dataset})
    assert shapes == [{(16, 16)}, {(12, 20)}, {(24, 24)}]
    # the same images in the same order as without resizing, only smaller
    epoch.assign(0)
    small = np.concatenate([x.numpy() for x, _ in dataset])
    full = np.concatenate([x.numpy() for x, _ in folder.to_dataset(
        4, image_size=24, shuffle=True, seed=0, epoch=epoch)])
    expected = tf.image.resize(full, (16, 16), antialias=True).numpy()
    np.testing.assert_allclose(small, expected, atol=1e-3)
    with pytest.raises(ValueError, match="epoch_sizes .* needs epoch"):
        folder.to_dataset(4, image_size=24, epoch_sizes=[16])
    with pytest.raises(ValueError, match=r"epoch_sizes\[0\]"):
        folder.to_dataset(4, image_size=24, shuffle=True, epoch=epoch, epoch_sizes=[0])

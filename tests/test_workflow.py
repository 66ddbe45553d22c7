"""The one-call workflow on a small generated folder (weights=None, tiny images)."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import Interrupt
from PIL import Image

import tlkit
from tlkit import TrainingOptions, TrainingRun, train
from tlkit.features import extract_features
from tlkit.workflow.leakage import LEAKAGE_METRIC

TINY = TrainingOptions(image_size=32, head_epochs=2, finetune_epochs=2, unfreeze={0: 0, 1: 1},
                       batch_size=8, tta=False)
# Progressive resizing: fine-tuning epoch 0 at 32 px, the smallest MobileNetV2 takes.
PROGRESSIVE = TINY.replace(image_size=64, finetune_sizes=(32,))


def make_folder(root: Path, classes: dict[str, int], n: int = 12, seed: int = 0) -> Path:
    """One sub-folder per class of small, noisy images with a class-specific colour."""
    rng = np.random.default_rng(seed)
    for name, shade in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = np.clip(rng.normal(shade, 25, (28, 36, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_folder(tmp_path_factory.mktemp("images"), {"ant": 40, "bee": 130, "cow": 220})
    (root / "ant" / "readme.txt").write_text("not an image")  # skipped and counted
    return root


@pytest.fixture(scope="module")
def run(folder: Path) -> TrainingRun:
    return train(folder, weights=None, options=TINY, verbose=0)


def test_train_runs_the_whole_recipe(run: TrainingRun) -> None:
    assert run.class_names == ["ant", "bee", "cow"]
    assert run.model.output_shape == (None, 3) and run.model.input_shape == (None, 32, 32, 3)
    assert list(run.history["phase"]) == ["frozen (cached features)"] * 2 + ["fine-tuning"] * 2
    fine = run.history[run.history["phase"] == "fine-tuning"]
    # one validation pass in fine-tuning, after its last epoch; every epoch trained
    assert fine["val_accuracy"].isna().tolist() == [True, False]
    assert fine["accuracy"].notna().all()
    assert set(run.reports) == {"validation", "test"}
    metrics = run.metrics
    assert metrics["train_images"] + metrics["validation_images"] + metrics["test_images"] == 36
    assert metrics["skipped_files"] == 1
    assert [e["top_blocks"] for e in metrics["unfreeze_events"]] == [0, 1]
    assert set(metrics["wall_seconds"]) == {"data", "feature_extraction", "leakage_check",
                                            "head_training", "fine_tuning", "calibration",
                                            "evaluation", "total"}
    leaked = metrics["test_images_with_a_near_duplicate_in_train"]
    assert 0 <= leaked <= metrics["test_images"]
    assert run.reports["test"].context["near duplicates in train"].startswith(f"{leaked} of ")
    calibration = metrics["calibration"]
    assert metrics["temperature"] == pytest.approx(run.temperature, abs=1e-4)
    assert calibration["images"] == metrics["validation_images"]
    assert calibration["nll_after"] <= calibration["nll_before"]  # what the fit minimises
    assert "temperature" in run.reports["test"].context["calibration"]
    assert metrics["test_expected_calibration_error"] == \
        run.reports["test"].expected_calibration_error()
    assert "test_expected_calibration_error_uncalibrated" in metrics
    assert metrics["test_accuracy"] == run.reports["test"].accuracy
    assert metrics["peak_memory_mb"] > 0
    assert metrics["image_decoding"].startswith("decoded once into memory")


def test_history_marks_the_first_fine_tuning_epoch(run: TrainingRun) -> None:
    """Two frozen epochs, then fine-tuning: its shading starts where the frozen phase's
    recorded time (feature extraction and head training) ends."""
    wall = run.metrics["wall_seconds"]
    frozen_end = wall["feature_extraction"] + wall["head_training"]
    spans = run.plot_history()[0].patches
    assert len(spans) == 2
    assert spans[1].get_x() == pytest.approx(frozen_end)  # fine-tuning from here
    assert spans[0].get_x() + spans[0].get_width() == pytest.approx(frozen_end)


def test_run_folder_round_trip_predicts_identically(run: TrainingRun, folder: Path,
                                                    tmp_path: Path) -> None:
    out = run.save(tmp_path / "run")
    for name in ("model.keras", "labels.txt", "config.json", "metrics.json", "history.csv",
                 "history.png", "augmentation_preview.png", "report/index.html"):
        assert (out / name).is_file(), name
    assert (out / "labels.txt").read_text().split() == run.class_names
    loaded = TrainingRun.load(out)
    assert loaded.options == run.options and loaded.backbone == "mobilenet_v2"
    files = sorted(str(p) for p in (folder / "bee").glob("*.png"))[:5]
    np.testing.assert_allclose(np.stack(loaded.predict(files)["top"].map(
        lambda top: [p for _, p in sorted(top)]).tolist()),
        np.stack(run.predict(files)["top"].map(lambda top: [p for _, p in sorted(top)]).tolist()),
        rtol=1e-6, atol=1e-7)
    with pytest.raises(FileExistsError, match="already holds a run"):
        run.save(out)
    (out / "my_notes.txt").write_text("keep me")
    run.save(out, overwrite=True)
    assert (out / "my_notes.txt").read_text() == "keep me"


def test_predict_equals_the_model_on_the_same_files(run: TrainingRun, folder: Path) -> None:
    files = sorted(str(p) for p in (folder / "cow").glob("*.png"))[:4]
    table = run.predict(files + [str(folder / "ant" / "readme.txt"), "/no/such.png"], top_k=3)
    pixels = np.concatenate([x for x, _ in tlkit.ImageSet(files, [0] * 4, run.class_names)
                             .to_dataset(8, image_size=32).as_numpy_iterator()])
    expected = run.model.predict(pixels, verbose=0)
    got = np.array([[dict(top)[name] for name in run.class_names] for top in table["top"][:4]])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert table["class"][:4].tolist() == [run.class_names[i] for i in expected.argmax(1)]
    assert table["error"][4] == "not an image (unrecognised content)"
    assert table["error"][5].startswith("unreadable:") and table["class"][5] is None


def test_evaluate_another_folder_of_the_same_classes(run: TrainingRun, tmp_path: Path) -> None:
    other = make_folder(tmp_path / "other", {"cow": 220, "ant": 40}, n=4, seed=5)
    report = run.evaluate(other, verbose=0)
    assert report.class_names == run.class_names and len(report.y_true) == 8
    assert set(report.y_true.tolist()) == {0, 2}  # ant and cow, by name, not by folder order
    make_folder(tmp_path / "other", {"yak": 90}, n=2)
    with pytest.raises(ValueError, match=r"not trained on: \['yak'\]"):
        run.evaluate(other, verbose=0)


def test_a_users_own_split_is_used_as_given(folder: Path) -> None:
    images = tlkit.ImageFolder(folder, verbose=0)
    parts = images.split(val=0.2, test=0.0, seed=1)
    run = train(parts, weights=None, verbose=0, options=TINY.replace(finetune_epochs=0))
    assert run.metrics["test_images"] == 0 and set(run.reports) == {"validation"}
    assert run.metrics["test_images_with_a_near_duplicate_in_train"] is None
    assert run.metrics["validation_images"] == len(parts.val)
    assert list(run.history["phase"]) == ["frozen (cached features)"] * 2


def test_bad_input_gets_clear_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(tmp_path / "missing", weights=None, options=TINY, verbose=0)
    single = make_folder(tmp_path / "single", {"only": 100}, n=4)
    with pytest.raises(ValueError, match="at least 2 classes"):
        train(single, weights=None, options=TINY, verbose=0)
    with pytest.raises(ValueError, match="Unknown backbone name.*mobilenet_v2"):
        train(folder, backbone="mobilenet_v9", weights=None, options=TINY, verbose=0)
    other = tlkit.build_backbone("tiny_test_net", image_size=32, weights=None)
    path = tmp_path / "tiny.weights.h5"
    other.get_layer("tiny_test_net").save_weights(path)
    with pytest.raises(ValueError, match=r"could not be loaded into 'mobilenet_v2'"):
        train(folder, weights=path, options=TINY, verbose=0)
    with pytest.raises(TypeError, match="options must be a tlkit.TrainingOptions"):
        train(folder, weights=None, options={"seed": 1}, verbose=0)  # type: ignore[arg-type]
    (tmp_path / "not_a_run").mkdir()
    with pytest.raises(ValueError, match="is not a run folder: it has no model.keras"):
        TrainingRun.load(tmp_path / "not_a_run")


def test_options_check_their_values_and_round_trip_through_json() -> None:
    options = TrainingOptions(image_size=(96, 128), unfreeze={"2": "all", 0: 3},
                              augment=tlkit.AugmentationPolicy(zoom=0.1), hidden_units=[64])
    assert options.unfreeze == {0: 3, 2: "all"} and options.hidden_units == (64,)
    assert TrainingOptions.from_json(options.to_json()) == options
    assert options.policy().zoom == 0.1 and options.policy().seed == 0
    assert TrainingOptions(augment="none").policy() is None
    assert TrainingOptions(unfreeze="0:4, 1:all").unfreeze == {0: 4, 1: "all"}  # text form
    with pytest.raises(ValueError, match="'epoch:blocks' pairs"):
        TrainingOptions(unfreeze="zero")
    for bad, error in (({"wise_alpha": 1.5}, ValueError), ({"augment": "wild"}, ValueError),
                       ({"batch_size": "8"}, TypeError), ({"unfreeze": [0, 1]}, TypeError),
                       ({"warmup_epochs": 3.0}, ValueError),
                       ({"label_smoothing": 1.0}, ValueError)):
        with pytest.raises(error):
            TrainingOptions(**bad)
    with pytest.raises(ValueError, match="Unknown option"):
        TrainingOptions.from_dict({"epochs": 3})
    sized = TrainingOptions(finetune_epochs=3, finetune_sizes=[160, 192])
    assert sized.finetune_sizes == (160, 192) and sized.epoch_sizes() == [(160, 160), (192, 192)]
    assert TrainingOptions.from_json(sized.to_json()) == sized
    with pytest.raises(ValueError, match=r"finetune_sizes must leave the last of "
                                         r"finetune_epochs=2 at image_size"):
        TrainingOptions(finetune_sizes=(160, 192))
    with pytest.raises(ValueError, match=r"finetune_sizes\[0\] must be an int >= 1"):
        TrainingOptions(finetune_epochs=3, finetune_sizes=(0,))
    small = TrainingOptions(image_size=(200, 300), feature_size=150)
    assert small.feature_shape() == (100, 150) and TrainingOptions().feature_shape() == (224, 224)
    assert TrainingOptions.from_json(small.to_json()) == small
    with pytest.raises(ValueError, match=r"feature_size must be an int >= 1"):
        TrainingOptions(feature_size=0)


def test_keras_reloads_a_run_model_without_tlkit_workflow(run: TrainingRun, tmp_path: Path) -> None:
    run.model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").output_shape == (None, 3)


def test_label_smoothing_reaches_both_phases_and_the_run_reloads(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    workflow_train = sys.modules["tlkit.workflow.train"]  # the module: the package's
    # `train` attribute is the function
    head_calls: list[float] = []
    real_fit_head = workflow_train.fit_head

    def spy(*args, **kwargs):  # the frozen phase is given the option
        head_calls.append(kwargs.get("label_smoothing", 0.0))
        return real_fit_head(*args, **kwargs)

    monkeypatch.setattr(workflow_train, "fit_head", spy)
    smoothed = train(folder, weights=None, options=TINY.replace(label_smoothing=0.2), verbose=0)
    assert head_calls == [0.2]
    loss = smoothed.model.loss  # fine-tuning's loss
    assert loss.smoothing == 0.2 and loss.num_classes == 3
    # Against a smoothed target the loss of a perfect prediction is its entropy, not 0.
    perfect = keras.ops.convert_to_numpy(loss(np.array([0]), np.array([[1.0, 0.0, 0.0]])))
    target = np.array([0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])
    assert perfect > -(target * np.log(target)).sum()
    loaded = TrainingRun.load(smoothed.save(tmp_path / "run"))  # the custom loss deserializes
    assert loaded.model.loss.smoothing == 0.2
    image = str(next((folder / "cow").glob("*.png")))
    np.testing.assert_allclose(loaded.predict([image])["probability"].astype(float),
                               smoothed.predict([image])["probability"].astype(float), rtol=1e-6)


def test_an_unfreeze_count_above_the_backbones_blocks_means_all_of_them(folder: Path) -> None:
    # tiny_test_net (registered by conftest) has 3 blocks; 6 and "all" both unfreeze them.
    run = train(folder, backbone="tiny_test_net", weights=None, verbose=0,
                options=TINY.replace(unfreeze={0: 1, 1: 6}))
    assert [e["top_blocks"] for e in run.metrics["unfreeze_events"]] == [1, 3]


def test_a_split_of_separate_folders_is_matched_by_class_name(tmp_path: Path) -> None:
    """val/ lacks class bee: its cow images must be scored as cow (2), not as bee (1)."""
    shades = {"ant": 40, "bee": 130, "cow": 220}
    train_dir = make_folder(tmp_path / "train", shades, n=8)
    val_dir = make_folder(tmp_path / "val", {"ant": 40, "cow": 220}, n=3, seed=1)
    test_dir = make_folder(tmp_path / "test", shades, n=2, seed=2)
    parts = tlkit.Split(*(tlkit.ImageFolder(d, verbose=0) for d in (train_dir, val_dir, test_dir)))
    with pytest.warns(UserWarning, match=r"validation images have no image of 1 training class: "
                                         r"\['bee'\]"):
        run = train(parts, backbone="tiny_test_net", weights=None, verbose=0,
                    options=TINY.replace(finetune_epochs=0))
    report = run.reports["validation"]
    assert report.class_names == ["ant", "bee", "cow"]
    assert sorted(report.y_true.tolist()) == [0, 0, 0, 2, 2, 2]
    unknown = make_folder(tmp_path / "odd", {"ant": 40, "yak": 90}, n=2)
    with pytest.raises(ValueError, match=r"test has images of 1 class the training classes "
                                         r"lack: \['yak'\]"):
        train(tlkit.Split(parts.train, parts.val, tlkit.ImageFolder(unknown, verbose=0)),
              backbone="tiny_test_net", weights=None, verbose=0,
              options=TINY.replace(finetune_epochs=0))


def test_a_pre_split_folder_is_read_as_its_splits_not_as_classes(tmp_path: Path) -> None:
    """root/train/<class>/ + root/valid/<class>/: classes ant, bee; the test part comes
    from train (the folder has none), validation is the folder's own."""
    root = tmp_path / "download"
    make_folder(root / "train", {"ant": 40, "bee": 200}, n=10)
    make_folder(root / "valid", {"ant": 40, "bee": 200}, n=3, seed=1)
    run = train(root, backbone="tiny_test_net", weights=None, verbose=0,
                options=TINY.replace(finetune_epochs=0))
    assert run.class_names == ["ant", "bee"]
    assert run.metrics["validation_images"] == 6
    assert run.metrics["test_images"] == 4 and run.metrics["train_images"] == 16
    assert all("/valid/" in path for path in run.split.val.paths)
    assert not any("/valid/" in path for path in run.split.test.paths + run.split.train.paths)
    assert "the folder's own split" in run.reports["test"].context["data"]


def test_test_images_copied_from_train_are_counted_as_leakage(tmp_path: Path) -> None:
    """A pre-split folder whose test part holds 3 copies of training images (one mirrored,
    one re-encoded smaller) beside 3 images unlike any in train."""
    root = tmp_path / "leaky"
    rng = np.random.default_rng(0)
    for part, n in (("train", 8), ("test", 0)):
        for name, colour in (("ant", 0), ("bee", 2)):
            (root / part / name).mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 50, (32, 32, 3), dtype="uint8")
                pixels[..., colour] = rng.integers(150, 255, (32, 32))
                Image.fromarray(pixels).save(root / part / name / f"{i}.png")
    train_ant = root / "train" / "ant"
    with Image.open(train_ant / "0.png") as image:
        image.save(root / "test" / "ant" / "copy.png")
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / "test" / "ant" / "mirror.png")
    with Image.open(train_ant / "1.png") as image:
        image.resize((24, 24)).save(root / "test" / "ant" / "smaller.jpg", quality=80)
    for i, colour in enumerate(((0, 200, 0), (255, 255, 255), (90, 60, 20))):
        Image.new("RGB", (32, 32), colour).save(root / "test" / "bee" / f"other_{i}.png")
    run = train(root, backbone="tiny_test_net", weights=None, verbose=0,
                options=TINY.replace(finetune_epochs=0, val_fraction=0.25))
    assert run.metrics["test_images"] == 6
    assert run.metrics["test_images_with_a_near_duplicate_in_train"] == 3
    assert run.reports["test"].context["near duplicates in train"].startswith("3 of 6 test")


def test_a_loaded_run_saved_again_keeps_its_report(run: TrainingRun, tmp_path: Path) -> None:
    out = run.save(tmp_path / "run")
    page = (out / "report" / "index.html").read_text()
    TrainingRun.load(out).save(out, overwrite=True)  # into its own folder
    assert (out / "report" / "index.html").read_text() == page
    copy = TrainingRun.load(out).save(tmp_path / "copy")  # into another
    assert (copy / "report" / "index.html").read_text() == page
    assert (copy / "augmentation_preview.png").is_file()
    # into another run folder, whose own (older) report is replaced, not a crash
    (copy / "report" / "index.html").write_text("an older run's report")
    TrainingRun.load(out).save(copy, overwrite=True)
    assert (copy / "report" / "index.html").read_text() == page


def test_a_run_folder_moved_with_its_data_loads_with_data_root(
        run: TrainingRun, folder: Path, tmp_path: Path) -> None:
    """split.csv holds paths relative to config.json's data_root: move both, re-point."""
    import json
    import shutil

    out = run.save(tmp_path / "run")
    table = (out / "split.csv").read_text()
    assert str(folder) not in table and "ant/" in table
    assert json.loads((out / "config.json").read_text())["data_root"] == str(folder.resolve())
    data = shutil.copytree(folder, tmp_path / "elsewhere" / "images")
    moved = TrainingRun.load(shutil.copytree(out, tmp_path / "other_machine"), data_root=data)
    assert [len(part) for part in moved.split] == [len(part) for part in run.split]
    assert all(Path(p).is_file() and str(data) in p for part in moved.split for p in part.paths)
    assert moved.split.train.labels.tolist() == run.split.train.labels.tolist()


def test_training_learns_separable_classes_and_reports_with_flip_tta(
        folder: Path) -> None:
    """The default path (flip test-time augmentation) on classes a model can tell apart:
    the test report must be right far above chance (1/3), and its probabilities must be
    the mean of the model's outputs for each image and its mirror."""
    options = TINY.replace(tta=True, head_epochs=30, head_lr=0.01, finetune_epochs=1,
                           unfreeze={0: 1}, augment="none")
    run = train(folder, backbone="tiny_test_net", weights=None, options=options, verbose=0)
    report = run.reports["test"]
    assert report.accuracy >= 0.8, report.accuracy
    pixels = np.concatenate([x for x, _ in run.split.test.to_dataset(
        64, image_size=32).as_numpy_iterator()])
    plain = keras.ops.convert_to_numpy(run.model(pixels, training=False))
    mirrored = keras.ops.convert_to_numpy(run.model(pixels[:, :, ::-1], training=False))
    assert not np.allclose(plain, mirrored, atol=1e-4)  # the flip changes something to average
    np.testing.assert_allclose(report.y_score, (plain + mirrored) / 2, atol=1e-5)


def test_a_run_and_its_float32_export_give_the_same_answers(folder: Path, tmp_path: Path) -> None:
    """Calibrated and with flip TTA, the run and its .tflite export agree: the export bakes
    the temperature and the flip average into its graph, so `tlkit evaluate` on either
    gives the same accuracy."""
    options = TINY.replace(tta=True, finetune_epochs=1, unfreeze={0: 1})
    run = train(folder, weights=None, options=options, verbose=0)
    run.model.get_layer(index=-1).set_temperature(0.7)  # a temperature for the export to keep
    loaded = TrainingRun.load(run.save(tmp_path / "run"))
    lite = tlkit.LiteRTModel(tlkit.export_model(loaded, tmp_path / "run" / "model.tflite"))
    assert lite.card.test_time_augmentation == "flip average in the graph"
    assert lite.card.temperature == pytest.approx(run.temperature, abs=1e-5)
    pixels = np.concatenate([x for x, _ in run.split.test.to_dataset(
        64, image_size=32).as_numpy_iterator()])
    np.testing.assert_allclose(lite.predict_proba(pixels), loaded.predict_proba(pixels),
                               atol=1e-4)
    np.testing.assert_allclose(loaded.predict_proba(pixels), run.predict_proba(pixels),
                               atol=1e-6)
    assert lite.evaluate(run.split.test).accuracy == \
        loaded.evaluate(run.split.test, verbose=0).accuracy
    with pytest.raises(ValueError, match=r"pixels must be \(n, 32, 32, 3\)"):
        run.predict_proba(pixels[:, :16])


def test_a_run_resumed_from_its_backup_ends_as_an_uninterrupted_one(
        folder: Path, tmp_path: Path) -> None:
    """The default schedule (top 6 blocks from epoch 0) over 2 epochs, stopped after the
    first and resumed: Adam's moments and the cosine schedule's step count come back from
    the backup, so the weights are those of a run that was never stopped."""
    options = TrainingOptions(image_size=32, head_epochs=2, finetune_epochs=2, batch_size=8,
                              tta=False)
    assert options.unfreeze == TrainingOptions().unfreeze == {0: 6}
    expected = train(folder, weights=None, options=options, verbose=0).model.get_weights()
    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="simulated"):
        train(folder, weights=None, options=options, backup_dir=backup, verbose=0,
              callbacks=[Interrupt(1)])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Skipping variable loading")
        resumed = train(folder, weights=None, options=options, backup_dir=backup, verbose=0)
    assert list(resumed.history["phase"]).count("fine-tuning") == 1  # epoch 0 came back
    for got, want in zip(resumed.model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_images_decoded_once_into_memory_give_the_run_reading_files_gives(
        run: TrainingRun, folder: Path) -> None:
    from_files = train(folder, weights=None, options=TINY, memory_gib=0, verbose=0)
    assert from_files.metrics["image_decoding"].startswith("read from the files")
    for got, want in zip(from_files.model.get_weights(), run.model.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(from_files.reports["test"].y_score, run.reports["test"].y_score,
                               atol=1e-5)
    # the run keeps its parts as files: nothing decoded outlives train()
    assert all(not part._pixels for part in run.split)
    expected = r"memory_gib must be a number in \[0, inf\)\. Received: memory_gib=-1"
    with pytest.raises(ValueError, match=expected):
        train(folder, weights=None, options=TINY, memory_gib=-1, verbose=0)


def test_progressive_resizing_trains_small_first_and_keeps_the_saved_size(
        folder: Path, mobilenet_weights: Path) -> None:
    """Fine-tuning epoch 0 at 32 px, epoch 1 at 64: the saved model still takes 64 x 64
    only, and its weights are the ones that fit changed (the two models share layers).
    ImageNet weights: a random MobileNetV2's features are all but zero at any size, so
    the size of epoch 0 could not show in the head."""
    small_first = train(folder, weights=mobilenet_weights, options=PROGRESSIVE, verbose=0)
    assert small_first.model.input_shape == (None, 64, 64, 3)
    with pytest.raises(ValueError, match="incompatible"):
        small_first.model.predict(np.zeros((1, 32, 32, 3)), verbose=0)
    assert np.isfinite(small_first.history["loss"]).all()
    # Same seed, same data: only the first epoch's image size differs (runs repeat to
    # 1e-5, see above), so the fine-tuned weights differ where it trained.
    full_size = train(folder, weights=mobilenet_weights,
                      options=PROGRESSIVE.replace(finetune_sizes=()), verbose=0)
    equal = [np.allclose(a, b, atol=1e-5) for a, b in zip(
        small_first.model.get_weights(), full_size.model.get_weights(), strict=True)]
    assert not all(equal)


def test_sizes_below_the_backbone_minimum_are_refused_before_any_work(folder: Path) -> None:
    """MobileNetV2 built at 32 px and run at 24: its last stages shrink to nothing, and
    the features were garbage, another value in every process (found 2026-12-02)."""
    expected = (r"finetune_sizes must keep at least 32 pixels per side for 'mobilenet_v2'\. "
                r"Received: finetune_sizes=\(24,\) \(images of 24 x 24\)\.")
    with pytest.raises(ValueError, match=expected):
        train(folder, weights=None, options=TINY.replace(finetune_sizes=(24,)), verbose=0)
    with pytest.raises(ValueError, match=r"feature_size must keep at least 32 pixels"):
        train(folder, weights=None, options=TINY.replace(feature_size=16), verbose=0)


def test_the_frozen_phase_reads_full_size_images_and_runs_at_feature_size(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """feature_size=32 of image_size=40: the cached features (and the near-duplicate
    check's) come from the backbone at 32 behind a resize; fine-tuning, evaluation and
    the saved model stay at 40."""
    import importlib

    leakage = importlib.import_module("tlkit.workflow.leakage")
    # the package's `train` is the function: the module comes from importlib
    workflow_train = importlib.import_module("tlkit.workflow.train")
    seen = []

    def recording(backbone: keras.Model, images, **kwargs):  # noqa: ANN001, ANN202
        seen.append((backbone.name, backbone.input_shape))
        return extract_features(backbone, images, **kwargs)

    monkeypatch.setattr(workflow_train, "extract_features", recording)
    monkeypatch.setattr(leakage, "extract_features", recording)
    small = train(folder, weights=None, options=TINY.replace(image_size=40, feature_size=32),
                  verbose=0)
    assert len(seen) == 3  # train, validation, test (near duplicates)
    assert all(name.endswith("_at_32") and shape == (None, 40, 40, 3) for name, shape in seen)
    assert small.model.input_shape == (None, 40, 40, 3)
    assert small.metrics[LEAKAGE_METRIC] is not None
    assert "frozen-backbone features at 32 x 32 px" in \
        small.reports["test"].context["near duplicates in train"]


@pytest.mark.parametrize("options", [
    pytest.param(PROGRESSIVE.replace(finetune_sizes=(), augment="none", dropout=0.0),
                 id="no-random-layers"),
    pytest.param(PROGRESSIVE, id="progressive"),  # augmentation and dropout: EpochSeeds
])
def test_a_resumed_run_with_imagenet_weights_ends_as_an_uninterrupted_one(
        folder: Path, tmp_path: Path, mobilenet_weights: Path, options: TrainingOptions) -> None:
    """Stopped after epoch 0 and resumed, with real features (a random MobileNetV2's are
    all but zero, so neither the image size nor the augmentation shows in its weights).
    With progressive resizing epoch 0 is at 32 px and epoch 1 at 64, as it would have
    been (the size comes from the epoch, not from how many passes this process made)."""
    kwargs = dict(weights=mobilenet_weights, options=options, verbose=0)
    expected = train(folder, **kwargs).model.get_weights()
    backup = tmp_path / "backup"
    with pytest.raises(RuntimeError, match="simulated"):
        train(folder, backup_dir=backup, callbacks=[Interrupt(1)], **kwargs)
    resumed = train(folder, backup_dir=backup, **kwargs)
    assert list(resumed.history["phase"]).count("fine-tuning") == 1  # epoch 0 came back
    for got, want in zip(resumed.model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_export_of_a_run_measures_itself_against_the_run(
        folder: Path, tmp_path: Path) -> None:
    """int8 changes probabilities: the export records by how much, on the run's validation
    images; an export that loses answers warns, naming what to try."""
    options = TINY.replace(tta=True, head_epochs=30, head_lr=0.01, finetune_epochs=0,
                           augment="none")
    run = train(folder, backbone="tiny_test_net", weights=None, verbose=0, options=options)
    path = tlkit.export_model(run, tmp_path / "q.tflite", quantize="int8", max_drop=1.0)
    fidelity = tlkit.LiteRTModel(path).card.details["fidelity"]
    assert fidelity["checked"] and fidelity["split"] == "validation"
    assert fidelity["images"] == len(run.split.val)
    pixels = np.concatenate([x for x, _ in run.split.val.to_dataset(
        64, image_size=32).as_numpy_iterator()])
    exported = tlkit.LiteRTModel(path).predict_proba(pixels)
    source = run.predict_proba(pixels)
    assert fidelity["top1_agreement"] == pytest.approx(
        np.mean(exported.argmax(1) == source.argmax(1)), abs=1e-4)
    assert fidelity["max_probability_change"] == pytest.approx(
        np.abs(exported - source).max(), abs=1e-4)
    assert fidelity["max_probability_change"] > 0  # int8 changed the probabilities
    assert fidelity["source_accuracy"] >= 0.8
    # A file that lost its head (every answer the same) measured against the run: it warns.
    broken = keras.models.clone_model(run.model)
    broken.set_weights([np.zeros_like(w) if w.ndim == 2 else w for w in run.model.get_weights()])
    other = tlkit.export_model(broken, tmp_path / "broken.tflite", flip_tta=True,
                               class_names=run.class_names)
    with pytest.warns(UserWarning, match=r"loses .* accuracy on \d+ validation images.*"
                                         r"quantize='int8-safe'.*'float16'"):
        figures = tlkit.measure_fidelity(run, other, max_drop=0.0)
    assert figures["accuracy_delta_points"] < -30
    unchecked = tlkit.export_model(run, tmp_path / "f.tflite", check=None)
    assert "fidelity" not in tlkit.LiteRTModel(unchecked).card.details
    nameless = tlkit.export_model(broken, tmp_path / "nameless.tflite")  # classes "0", "1", "2"
    with pytest.raises(ValueError, match="exported from another model"):
        tlkit.measure_fidelity(run, nameless)  # matched by name, never by position


def test_the_training_curves_name_the_phases_the_floor_and_the_saved_model(
        run: TrainingRun) -> None:
    from tlkit.workflow._history_figure import smoothing_floor

    loss, accuracy = run.plot_history()
    texts = [t.get_text() for t in loss.texts]
    assert any(t.startswith("frozen backbone") for t in texts)
    assert any(t.startswith("fine-tuning") for t in texts)
    (floor,) = [line for line in loss.get_lines() if line.get_label().startswith("lowest loss")]
    assert floor.get_ydata()[0] == pytest.approx(smoothing_floor(run.options.label_smoothing, 3))
    assert np.all(run.history["loss"] >= floor.get_ydata()[0] - 1e-6)  # it is a floor
    (star,) = [line for line in accuracy.get_lines() if line.get_label().startswith("saved")]
    assert star.get_ydata()[0] == pytest.approx(run.metrics["validation_accuracy"])
    # Wall-clock axis: the fine-tuning epochs end where the run's recorded time does.
    wall = run.metrics["wall_seconds"]
    end = wall["feature_extraction"] + wall["head_training"] + wall["fine_tuning"]
    assert star.get_xdata()[0] == pytest.approx(end)

"""The example programs run end to end on a few real Caltech-101 classes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

LoadScript = Callable[[str], ModuleType]  # the load_script fixture (conftest.py)


@pytest.mark.real_data
def test_flagship_quick_run_writes_every_output(
    load_script: LoadScript, caltech_dir: Path, mobilenet_weights: Path, tmp_path: Path
) -> None:
    flagship = load_script("examples/caltech101_mobilenetv2.py")
    out = tmp_path / "run"
    metrics = flagship.main([
        "--quick", "--data-dir", str(caltech_dir), "--weights", str(mobilenet_weights),
        "--output-dir", str(out), "--classes", "3", "--image-size", "96", "--head-epochs", "3",
        # enough validation images to hold a few mistakes: a temperature is fitted on them
        # (on a split the model gets all right it stays 1, with a warning)
        "--val-fraction", "0.2", "--verbose", "0",
    ])
    for name in ("model.keras", "history.csv", "history.png", "augmentation_preview.png",
                 "config.json", "metrics.json", "report/index.html", "report/report.json",
                 "report/per_class.csv", "report/confusion_matrix.csv",
                 "report/confusion_matrix.png", "report/per_class_recall.png"):
        assert (out / name).is_file(), name
    assert metrics["classes"] == 3
    assert metrics["test_accuracy"] > 0.8
    assert metrics["validation_accuracy"] > 0.8
    assert metrics["validation_images"] > 0
    assert metrics["validation_mean_per_class_accuracy"] > 0.8
    assert metrics["test_mean_per_class_accuracy"] > 0.8
    assert metrics["allocator"] in {"tcmalloc", "jemalloc", "system", "unknown"}
    assert set(metrics["wall_seconds"]) == {"data", "feature_extraction", "head_training",
                                            "fine_tuning", "calibration", "evaluation",
                                            "leakage_check", "total"}
    assert [e["top_blocks"] for e in metrics["unfreeze_events"]] == [2]
    assert metrics["wise_alpha"] == 0.7
    # The saved model loads back and has the trained classifier.
    import keras

    import tlkit  # registers tlkit's layers

    model = keras.saving.load_model(out / "model.keras")
    assert model.output_shape == (None, 3)
    # Calibrated by default: the stored temperature lowers the test ECE (label smoothing
    # leaves the model under-confident) and changes no answer.
    run = tlkit.TrainingRun.load(out)
    assert run.temperature == pytest.approx(metrics["temperature"], abs=1e-4)
    assert run.temperature < 1.0
    calibrated = run.evaluate(run.split.test, verbose=0)
    run.model.get_layer(index=-1).set_temperature(1.0)
    uncalibrated = run.evaluate(run.split.test, verbose=0)
    assert calibrated.expected_calibration_error() < uncalibrated.expected_calibration_error()
    assert (calibrated.y_pred == uncalibrated.y_pred).all()
    # A second run into the same folder is refused.
    with pytest.raises(SystemExit):
        flagship.parse_args(["--output-dir", str(out), "--data-dir", str(caltech_dir)])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data-dir", "/no/such/folder"], "--data-dir '/no/such/folder' does not exist"),
        (["--weights", "/no/such.weights.h5"], "--weights '/no/such.weights.h5' does not exist"),
        (["--finetune-epochs", "0"], "--finetune-epochs must be >= 1, got 0"),
        (["--head-epochs", "-2"], "--head-epochs must be >= 1, got -2"),
        (["--unfreeze", "zero"], "expected 'epoch:blocks' pairs"),
        (["--wise-alpha", "1.5"], "--wise-alpha must be in [0, 1], got 1.5"),
        (["--feature-size", "0"], "--feature-size must be >= 1, got 0"),
        (["--train-per-class", "0"], "--train-per-class must be >= 1, got 0"),
        (["--train-per-class", "5", "--test-fraction", "0.3"],
         "cannot be combined with --val-fraction or --test-fraction"),
        (["--finetune-epochs", "2", "--warmup-epochs", "2"],
         "--warmup-epochs must be in [0, --finetune-epochs=2), got 2.0"),
    ],
)
def test_flagship_rejects_bad_arguments(
    load_script: LoadScript, argv: list[str], message: str, capsys: pytest.CaptureFixture,
    tmp_path: Path,
) -> None:
    flagship = load_script("examples/caltech101_mobilenetv2.py")
    with pytest.raises(SystemExit) as info:
        flagship.parse_args([*argv, "--output-dir", str(tmp_path / "new")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_flagship_refuses_an_output_dir_with_a_previous_run(
    load_script: LoadScript, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    flagship = load_script("examples/caltech101_mobilenetv2.py")
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(SystemExit):
        flagship.parse_args(["--output-dir", str(tmp_path)])
    assert "already holds a run" in capsys.readouterr().err
    assert flagship.parse_args(["--output-dir", str(tmp_path), "--overwrite"]).overwrite


def test_few_shot_protocol_keeps_n_images_per_class_to_train(
    load_script: LoadScript, tmp_path: Path
) -> None:
    """--train-per-class: N per class to train, N // 2 to validate, at most 20 to test, the
    same images for the same seed (every backbone of a seed sees the same few images)."""
    import tlkit

    flagship = load_script("examples/caltech101_mobilenetv2.py")
    images = tlkit.ImageSet([f"{i}.jpg" for i in range(90)], [0] * 40 + [1] * 50, ["a", "b"])
    args = flagship.parse_args(["--train-per-class", "4", "--output-dir", str(tmp_path / "r")])
    split = flagship.data_of(args, images)
    assert [dict(part.counts) for part in split] == [{"a": 4, "b": 4}, {"a": 2, "b": 2},
                                                     {"a": 20, "b": 20}]
    assert set(split.train.paths).isdisjoint(split.test.paths)
    assert flagship.data_of(args, images).train.paths == split.train.paths
    plain = flagship.parse_args(["--output-dir", str(tmp_path / "r")])
    assert flagship.data_of(plain, images) is images

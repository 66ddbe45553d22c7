"""One inference layer: a run, its SavedModel and its TFLite files answer alike, by their cards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_workflow import TINY, make_folder

import tlkit
from tlkit import ModelCard, Predictor, TrainingRun, load_predictor
from tlkit.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A calibrated run that predicts with the flip average, saved, and three exports of it."""
    root = tmp_path_factory.mktemp("inference")
    folder = make_folder(root / "images", {"ant": 40, "bee": 130, "cow": 220})
    options = TINY.replace(tta=True, head_epochs=20, head_lr=0.01, finetune_epochs=0,
                           augment="none")
    run = tlkit.train(folder, backbone="tiny_test_net", weights=None, options=options, verbose=0)
    run.model.get_layer(index=-1).set_temperature(0.7)
    run_dir = run.save(root / "run")
    loaded = TrainingRun.load(run_dir)
    exports = {
        "in_graph": tlkit.export_model(loaded, root / "in_graph.tflite", check=None),
        # No suffix, and no flip in the graph: the card tells the predictor to average.
        "by_predictor": tlkit.export_model(loaded, root / "once", flip_tta=False, check=None),
        "savedmodel": tlkit.export_model(loaded, root / "served", format="savedmodel",
                                         check=None),
    }
    return {"folder": folder, "run_dir": run_dir, "run": run, **exports}


def test_every_door_is_a_predictor_opened_by_what_the_path_holds(exported: dict) -> None:
    kinds = {key: type(load_predictor(exported[key])).__name__
             for key in ("run_dir", "in_graph", "by_predictor", "savedmodel")}
    assert kinds == {"run_dir": "TrainingRun", "in_graph": "LiteRTModel",
                     "by_predictor": "LiteRTModel", "savedmodel": "TensorFlowSavedModel"}
    assert all(isinstance(load_predictor(exported[k]), Predictor) for k in kinds)


def test_the_same_model_gives_the_same_probabilities_through_every_door(exported: dict) -> None:
    run = exported["run"]
    pixels = np.concatenate([x for x, _ in run.split.test.to_dataset(
        64, image_size=32).as_numpy_iterator()])
    expected = TrainingRun.load(exported["run_dir"]).predict_proba(pixels)
    mirrored = run.model.predict(pixels[:, :, ::-1], verbose=0)
    assert not np.allclose(run.model.predict(pixels, verbose=0), mirrored, atol=1e-3)
    for key in ("in_graph", "by_predictor", "savedmodel"):
        predictor = load_predictor(exported[key])
        assert predictor.card.temperature == pytest.approx(0.7, abs=1e-6)
        np.testing.assert_allclose(predictor.predict_proba(pixels), expected, atol=1e-4,
                                   err_msg=key)
    cards = {k: load_predictor(exported[k]).card.test_time_augmentation
             for k in ("run_dir", "in_graph", "by_predictor", "savedmodel")}
    assert cards == {"run_dir": "flip average by the predictor",
                     "in_graph": "flip average in the graph",
                     "by_predictor": "flip average by the predictor",
                     "savedmodel": "flip average in the graph"}


def test_tlkit_evaluate_reports_the_same_accuracy_for_a_run_and_its_exports(
        exported: dict, capsys: pytest.CaptureFixture) -> None:
    printed = {}
    for key in ("run_dir", "in_graph", "by_predictor", "savedmodel"):
        assert main(["evaluate", str(exported[key]), str(exported["folder"]),
                     "--verbose", "0"]) == 0
        printed[key] = next(line for line in capsys.readouterr().out.splitlines()
                            if line.strip().startswith("accuracy"))
    assert len(set(printed.values())) == 1, printed


def test_the_run_folder_has_the_card_every_loader_reads(exported: dict, tmp_path: Path) -> None:
    run_dir = exported["run_dir"]
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["class_names"] == ["ant", "bee", "cow"] and card["image_size"] == [32, 32]
    assert card["format"] == "keras" and card["split"] == "split.csv"
    assert card["data_root"] == str(exported["folder"].resolve())
    loaded = TrainingRun.load(run_dir)
    assert loaded.card.versions == card["versions"] and loaded.card.saved == card["saved"]
    export_card = ModelCard.read(exported["in_graph"])
    assert export_card.source == str(run_dir.resolve())
    assert export_card.backbone == "tiny_test_net" and export_card.format == "tflite"
    # Names come from the card, not labels.txt; a card from another model is refused.
    copy = Path(shutil.copytree(run_dir, tmp_path / "copy"))
    (copy / "labels.txt").write_text("x\ny\nz\n")
    assert TrainingRun.load(copy).class_names == ["ant", "bee", "cow"]
    card["image_size"] = [64, 64]
    (copy / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="says image_size"):
        TrainingRun.load(copy)


def test_a_card_written_before_cards_and_a_path_that_is_no_model(tmp_path: Path,
                                                                 exported: dict) -> None:
    old = {"format": "tflite", "quantize": "int8", "class_names": [], "image_size": [32, 32],
           "resize": "crop", "test_time_augmentation": "none", "temperature": None,
           "output": {"shape": [1, 3]}, "fidelity": {"checked": False, "reason": "x"}}
    card = ModelCard.from_dict(old)
    assert card.class_names == ["0", "1", "2"] and card.resize == "crop"
    assert card.details["fidelity"]["reason"] == "x" and not card.flip_by_predictor
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="not a model tlkit can run"):
        load_predictor(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="is not a run folder"):
        load_predictor(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_predictor(tmp_path / "missing.tflite")
    with pytest.raises(ValueError, match="is not a model card"):
        ModelCard.from_dict({"format": "tflite"})


def test_an_onnx_export_runs_in_onnxruntime_and_answers_as_the_run(
        exported: dict, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = TrainingRun.load(exported["run_dir"])
    path = tlkit.export_model(run, tmp_path / "model.onnx", format="onnx", check="test",
                              max_drop=0.0)
    onnx = load_predictor(path)
    assert type(onnx).__name__ == "OnnxModel" and onnx.card.format == "onnx"
    assert onnx.card.test_time_augmentation == "flip average in the graph"
    fidelity = onnx.card.details["fidelity"]
    assert fidelity["checked"] and fidelity["top1_agreement"] == 1.0
    assert fidelity["max_probability_change"] < 1e-4
    pixels = np.concatenate([x for x, _ in run.split.test.to_dataset(
        64, image_size=32).as_numpy_iterator()])
    np.testing.assert_allclose(onnx.predict_proba(pixels), run.predict_proba(pixels), atol=1e-4)
    with pytest.raises(ValueError, match="quantize applies to TFLite only"):
        tlkit.export_model(run, tmp_path / "q.onnx", format="onnx", quantize="int8")
    with pytest.raises(FileExistsError, match="not an earlier .onnx export"):
        (tmp_path / "notes.onnx").write_text("mine")
        tlkit.export_model(run, tmp_path / "notes.onnx", format="onnx", overwrite=True)
    assert (tmp_path / "notes.onnx").read_text() == "mine"


def test_an_export_replaced_by_another_model_gets_that_models_card(
        exported: dict, tmp_path: Path) -> None:
    """overwrite=True over an earlier export of another model: the new card is written (the
    old one is not read), names are checked before anything is written, and a folder is not
    taken for a file."""
    import keras

    other = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    path = Path(shutil.copy(exported["in_graph"], tmp_path / "m.tflite"))
    shutil.copy(str(exported["in_graph"]) + ".json", tmp_path / "m.tflite.json")  # its card
    tlkit.export_model(other, path, class_names=["x", "y"], overwrite=True)
    card = load_predictor(path).card
    assert card.class_names == ["x", "y"] and card.image_size == (16, 16)
    with pytest.raises(ValueError, match="class_names has 3 names but the model has 2"):
        tlkit.export_model(other, tmp_path / "new.tflite", class_names=["a", "b", "c"])
    assert not (tmp_path / "new.tflite").exists()
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileExistsError, match="is a folder"):
        tlkit.export_model(other, tmp_path / "folder", overwrite=True)


def test_a_report_whose_thresholds_keep_nothing_is_still_json() -> None:
    report = tlkit.EvaluationReport([0, 1, 1, 0], [[0.6, 0.4]] * 4, class_names=["a", "b"])
    thresholds = report.to_dict()["first_screen"]["thresholds"]
    assert thresholds[-1]["images"] == 0 and thresholds[-1]["accuracy"] is None
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON


def test_a_runs_export_keeps_the_runs_names_in_its_order(exported: dict, tmp_path: Path) -> None:
    """Names given for a run's export are not allowed to relabel its outputs."""
    run = TrainingRun.load(exported["run_dir"])
    with pytest.raises(ValueError, match="in another order than the run's classes"):
        tlkit.export_model(run, tmp_path / "swapped.tflite", class_names=["cow", "bee", "ant"])
    with pytest.raises(ValueError, match="other names than the run's classes"):
        tlkit.export_model(run, tmp_path / "renamed.tflite", class_names=["Ant", "Bee", "Cow"])
    with pytest.raises(TypeError, match="class_names"):
        tlkit.export_model(run, tmp_path / "text.tflite", class_names="abc")
    assert not list(tmp_path.iterdir())  # refused before anything was written
    path = tlkit.export_model(run, tmp_path / "same.tflite", class_names=run.class_names,
                              check=None)
    assert load_predictor(path).class_names == run.class_names

"""An export never loses what was there: failed conversions, side files, foreign files, bad cards."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

import tlkit
from tlkit import ModelCard, export_model, load_predictor


def _model(outputs: int = 2) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(outputs, activation="softmax")])


def _fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError("conversion failed (planted)")


def test_a_failed_conversion_leaves_the_earlier_export_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = export_model(_model(), tmp_path / "m.tflite", class_names=["cat", "dog"])
    saved = export_model(_model(), tmp_path / "served", format="savedmodel",
                         class_names=["cat", "dog"])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(tlkit.export, "_tflite", _fail)
    with pytest.raises(RuntimeError, match="planted"):
        export_model(_model(3), path, class_names=["a", "b", "c"], overwrite=True)

    def half_written(model: keras.Model, folder: Path) -> None:
        folder.mkdir()
        (folder / "saved_model.pb").write_bytes(b"half")
        raise RuntimeError("conversion failed (planted)")

    monkeypatch.setattr(tlkit.export, "_savedmodel", half_written)
    with pytest.raises(RuntimeError, match="planted"):
        export_model(_model(3), saved, format="savedmodel", class_names=["a", "b", "c"],
                     overwrite=True)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # every file as it was, nothing staged left behind
    assert load_predictor(path).class_names == ["cat", "dog"]


def test_files_beside_an_export_are_the_users_unless_they_are_an_exports(
        tmp_path: Path) -> None:
    side = tmp_path / "model.json"  # e.g. a TF.js model of the user's
    side.write_text('{"modelTopology": {}}')
    with pytest.raises(FileExistsError, match=r"model.json' exists beside"):
        export_model(_model(), tmp_path / "model", class_names=["cat", "dog"])
    with pytest.raises(FileExistsError, match="is not a tlkit model card"):
        export_model(_model(), tmp_path / "model", class_names=["cat", "dog"], overwrite=True)
    assert side.read_text() == '{"modelTopology": {}}'
    assert not (tmp_path / "model").exists()
    # An export's own card and labels are replaced by the next export's.
    path = export_model(_model(), tmp_path / "m.tflite", class_names=["cat", "dog"])
    path.unlink()  # the file is gone, its card and labels are still there
    with pytest.raises(FileExistsError, match="exists beside"):
        export_model(_model(3), path, class_names=["a", "b", "c"])
    export_model(_model(3), path, class_names=["a", "b", "c"], overwrite=True)
    assert load_predictor(path).class_names == ["a", "b", "c"]
    assert (tmp_path / "m.tflite.labels.txt").read_text().split() == ["a", "b", "c"]


def test_onnx_overwrite_needs_the_exports_card_not_a_first_byte(tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx")
    protobuf = tmp_path / "saved_model.pb"  # a SavedModel's protobuf also starts with 0x08
    protobuf.write_bytes(b"\x08\x01\x12\x00")
    with pytest.raises(FileExistsError, match="not an earlier .onnx export"):
        export_model(_model(), protobuf, format="onnx", class_names=["a", "b"], overwrite=True)
    assert protobuf.read_bytes() == b"\x08\x01\x12\x00"
    path = export_model(_model(), tmp_path / "m.onnx", format="onnx", class_names=["a", "b"])
    export_model(_model(), path, format="onnx", class_names=["c", "d"], overwrite=True)
    assert load_predictor(path).class_names == ["c", "d"]
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    (tmp_path / "bad.onnx.json").write_text(json.dumps(
        ModelCard(["a", "b"], (16, 16), format="onnx").to_dict()))
    with pytest.raises(ValueError, match="bad.onnx' is not an ONNX model"):
        load_predictor(tmp_path / "bad.onnx")


def test_a_card_is_checked_when_made_and_named_when_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resize"):
        ModelCard(["a"], (8, 8), resize="centre")
    with pytest.raises(ValueError, match="quantize"):
        ModelCard(["a"], (8, 8), quantize="int4")
    with pytest.raises(ValueError, match="temperature"):
        ModelCard(["a"], (8, 8), temperature=-1.0)
    with pytest.raises(ValueError, match="resize"):
        export_model(_model(), tmp_path / "r.tflite", class_names=["a", "b"], resize="centre")
    assert not (tmp_path / "r.tflite").exists()
    path = export_model(_model(), tmp_path / "m.tflite", class_names=["a", "b"])
    (tmp_path / "m.tflite.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"m.tflite.json' is not a readable model card"):
        load_predictor(path)

"""The ``tlkit`` command end to end on a small generated folder (weights none, tiny images)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_workflow import make_folder

from tlkit import TrainingRun
from tlkit.cli import main

SMALL = ["--weights", "none", "--image-size", "32", "--head-epochs", "2", "--finetune-epochs",
         "1", "--unfreeze", "0:1", "--batch-size", "8", "--verbose", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    folder = make_folder(root / "images", {"ant": 40, "bee": 130, "cow": 220})
    assert main(["train", str(folder), "--output-dir", str(root / "run"), "--no-tta",
                 *SMALL]) == 0
    return folder, root / "run"


def test_train_writes_a_run_folder_and_prints_its_figures(
        trained: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    _, run_dir = trained
    assert TrainingRun.load(run_dir).class_names == ["ant", "bee", "cow"]
    options = json.loads((run_dir / "config.json").read_text())["options"]
    assert options["image_size"] == [32, 32] and options["unfreeze"] == {"0": 1}
    assert options["tta"] is False


def test_predict_json_equals_the_model(trained: tuple[Path, Path],
                                       capsys: pytest.CaptureFixture) -> None:
    folder, run_dir = trained
    files = sorted(str(p) for p in (folder / "bee").glob("*.png"))[:3]
    (folder.parent / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    capsys.readouterr()
    assert main(["predict", str(run_dir), *files, str(folder.parent / "broken.jpg"),
                 "--format", "json", "--top-k", "3", "--verbose", "0"]) == 0
    rows = json.loads(capsys.readouterr().out)
    run = TrainingRun.load(run_dir)
    expected = run.model.predict(np.concatenate([x for x, _ in __import__("tlkit").ImageSet(
        files, [0] * 3, run.class_names).to_dataset(8, image_size=32).as_numpy_iterator()]),
        verbose=0)
    for row, probabilities in zip(rows[:3], expected):
        got = {p["class"]: p["probability"] for p in row["predictions"]}
        np.testing.assert_allclose([got[n] for n in run.class_names], probabilities, rtol=1e-5)
        assert row["error"] is None
    assert rows[3]["path"].endswith("broken.jpg") and rows[3]["predictions"] == []
    assert rows[3]["error"].startswith("cannot decode jpeg")


def test_predict_table_and_csv(trained: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    folder, run_dir = trained
    capsys.readouterr()
    main(["predict", str(run_dir), str(folder / "ant"), "--top-k", "2", "--verbose", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 12 and all(line.count("\t") == 1 for line in lines)
    main(["predict", str(run_dir), str(folder / "cow" / "0.png"), "--format", "csv",
          "--verbose", "0"])
    header, row = capsys.readouterr().out.splitlines()
    assert header == "path,class,probability,error,top" and row.count("=") == 3


def test_evaluate_prints_and_saves_a_report(trained: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    folder, run_dir = trained
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), str(folder), "--output-dir", str(tmp_path / "r"),
                 "--verbose", "0"]) == 0
    assert "samples                     36" in capsys.readouterr().out
    assert (tmp_path / "r" / "index.html").is_file()


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "/no/such/folder", "--output-dir", "{tmp}/x", *SMALL], "does not exist"),
    (["train", "{folder}", "--output-dir", "{run}", *SMALL], "already holds a run"),
    (["train", "{folder}", "--output-dir", "{tmp}/y", "--backbone", "resnet5", *SMALL],
     "Unknown backbone name.*resnet50"),
    (["train", "{folder}", "--output-dir", "{tmp}/z", "--wise-alpha", "2", *SMALL],
     "wise_alpha must be a number in"),
    (["evaluate", "{folder}", "{folder}"], "is not a run folder"),
    (["predict", "{tmp}", "x.png"], "is not a run folder"),
])
def test_bad_input_exits_2_with_one_clear_line(
        trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture,
        argv: list[str], message: str) -> None:
    folder, run_dir = trained
    argv = [a.format(tmp=tmp_path, folder=folder, run=run_dir) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tlkit {argv[0]}: error:")
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "x").exists()  # nothing written


def test_backbones_lists_the_registry(capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import tlkit.backbones

    monkeypatch.setattr(tlkit.backbones, "list_backbones", lambda: ["tiny_test_net"])
    assert main(["backbones"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:5] == ["name", "size", "parameters", "blocks", "features"]
    assert row.split()[:5] == ["tiny_test_net", "32", "2,924", "3", "16"]


def test_python_dash_m_tlkit_is_the_same_program() -> None:
    done = subprocess.run([sys.executable, "-m", "tlkit", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0
    assert all(command in done.stdout for command in ("train", "evaluate", "predict",
                                                       "backbones"))


def test_export_then_predict_and_evaluate_the_tflite_file(
        trained: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    folder, run_dir = trained
    assert main(["export", str(run_dir), "--quantize", "int8", "--verbose", "0"]) == 0
    path = run_dir / "export" / "model_int8.tflite"
    assert path.is_file() and capsys.readouterr().out.startswith(str(path))
    meta = json.loads(path.with_name(path.name + ".json").read_text())
    # Calibrated on the run's own training images, read back from split.csv.
    assert meta["calibration_images"] == TrainingRun.load(run_dir).metrics["train_images"]
    assert main(["predict", str(path), str(folder / "cow" / "0.png"), "--format", "json",
                 "--verbose", "0"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["error"] is None and len(row["predictions"]) == 3
    assert main(["evaluate", str(path), str(folder), "--verbose", "0"]) == 0
    assert "samples                     36" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # the file exists: not replaced unasked
        main(["export", str(run_dir), "--quantize", "int8", "--verbose", "0"])
    assert "exists" in capsys.readouterr().err

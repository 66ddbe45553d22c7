"""The ``tlkit`` command end to end on a small generated folder (weights none, tiny images)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_workflow import make_folder

from tlkit import TrainingOptions, TrainingRun, cli
from tlkit.cli import main

SMALL = ["--weights", "none", "--image-size", "32", "--head-epochs", "2", "--finetune-epochs",
         "1", "--unfreeze", "0:1", "--batch-size", "8", "--verbose", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    folder = make_folder(root / "images", {"ant": 40, "bee": 130, "cow": 220})
    out, err = io.StringIO(), io.StringIO()  # what train printed, for the test below
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        assert main(["train", str(folder), "--output-dir", str(root / "run"), "--no-tta",
                     "--no-calibrate", "--memory-gib", "0", *SMALL]) == 0
    (root / "train.out").write_text(out.getvalue())
    (root / "train.err").write_text(err.getvalue())
    return folder, root / "run"


def test_train_writes_a_run_folder_and_prints_its_figures(trained: tuple[Path, Path]) -> None:
    _, run_dir = trained
    run = TrainingRun.load(run_dir)
    assert run.class_names == ["ant", "bee", "cow"]
    options = json.loads((run_dir / "config.json").read_text())["options"]
    assert options["image_size"] == [32, 32] and options["unfreeze"] == {"0": 1}
    assert options["tta"] is False and options["calibrate"] is False
    assert run.temperature == 1.0 and run.metrics["calibration"] is None
    # --verbose 0: stdout is exactly the run's figures as JSON (all but the unfreeze events).
    printed = json.loads((run_dir.parent / "train.out").read_text())
    assert printed == json.loads(json.dumps(
        {k: v for k, v in run.metrics.items() if k != "unfreeze_events"}))
    assert printed["train_images"] == run.metrics["train_images"] > 0
    assert printed["image_decoding"].startswith("read from the files")  # --memory-gib 0
    assert (run_dir.parent / "train.err").read_text() == f"run folder: {run_dir}\n"


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
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line, no traceback
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


# Start-up: --help without TensorFlow --------------------------------------------------------
def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, env=env)


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["export"],
                                     ["audit"], ["backbones"]])
def test_help_imports_no_tensorflow(command: list[str]) -> None:
    done = _python(
        "import sys\n"
        "from tlkit.cli import main\n"
        "try:\n"
        f"    main({[*command, '--help']!r})\n"
        "except SystemExit as stop:\n"
        "    print('exit', stop.code)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    assert done.returncode == 0, done.stderr
    *shown, last = done.stdout.splitlines()
    assert shown[0].startswith("usage: tlkit") and shown[-1] == "exit 0"
    assert last == "False False"
    assert done.stderr == ""


def test_help_shows_the_defaults_of_training_options(capsys: pytest.CaptureFixture) -> None:
    defaults = TrainingOptions()
    for name, _, shown, _ in cli._OPTION_FLAGS:
        value = getattr(defaults, name)
        if name == "image_size":
            value = value[0]
        elif name == "unfreeze":  # the flag's own syntax, "0:6"
            value = ",".join(f"{epoch}:{blocks}" for epoch, blocks in value.items())
        assert shown == str(value), name
    assert {name for name, *_ in cli._OPTION_FLAGS} | {"tta", "calibrate"} == \
        set(defaults.to_dict())
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--wise-alpha WISE_ALPHA share of the fine-tuned weights in the final model " \
           f"(WiSE-FT) (default {defaults.wise_alpha})" in text
    assert "--unfreeze UNFREEZE" in text and "(default 0:6)" in text


def test_the_constants_of_the_parser_are_the_public_ones() -> None:
    import tlkit
    import tlkit.workflow
    from tlkit import _cli_parser as parser_module

    assert parser_module.EXPORT_FORMATS is tlkit.EXPORT_FORMATS
    assert parser_module.QUANTIZATIONS is tlkit.QUANTIZATIONS
    assert parser_module.STRATEGIES is tlkit.STRATEGIES
    assert parser_module.QUICK is cli.QUICK is tlkit.workflow.QUICK


def _env_without_tf_log_level(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, **extra}


def test_a_normal_run_prints_no_tensorflow_log_lines(trained: tuple[Path, Path]) -> None:
    folder, run_dir = trained
    done = subprocess.run(
        [sys.executable, "-m", "tlkit", "predict", str(run_dir), str(folder / "cow" / "0.png"),
         "--verbose", "0"], capture_output=True, text=True, timeout=300, check=False,
        env=_env_without_tf_log_level())
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no "I0000 ... port.cc" or absl lines
    assert done.stdout.startswith(str(folder / "cow" / "0.png") + "\t")


@pytest.mark.parametrize(("user", "verbose", "expected"), [
    (None, "1", "3"),  # ours: every line off
    ("1", "1", "1"),  # the user's own is kept
    (None, "2", "None"),  # --verbose 2: TensorFlow's default, every line
])
def test_tf_log_level_is_set_before_tensorflow_unless_verbose_2_or_the_users(
        user: str | None, verbose: str, expected: str) -> None:
    env = _env_without_tf_log_level(**({} if user is None else {"TF_CPP_MIN_LOG_LEVEL": user}))
    done = _python(
        "import os, sys\n"
        "from tlkit.cli import main\n"
        "try:\n"
        f"    main(['predict', '/no/such/run', 'x.png', '--verbose', {verbose!r}])\n"
        "except SystemExit as stop:\n"
        "    print(stop.code)\n"
        "print('tensorflow' in sys.modules, os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n", env=env)
    assert done.stdout.splitlines() == ["2", f"True {expected}"], done.stderr
    assert done.stderr.splitlines()[-1].startswith("tlkit predict: error:")
    if verbose == "1":
        assert len(done.stderr.splitlines()) == 1, done.stderr


# Usage errors (2, one line) and internal errors (1, traceback) -------------------------------
def test_an_unexpected_exception_is_an_internal_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_backbones", broken)
    assert main(["backbones"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "RuntimeError: boom" in err
    assert err.splitlines()[-1].startswith("tlkit backbones: internal error (RuntimeError)")


@pytest.mark.parametrize("fail", [
    lambda: np.zeros(-1),  # ValueError raised inside NumPy
    lambda: int("x"),  # ValueError raised by Python
    lambda: None + 1,  # TypeError of a bug
])
def test_value_and_type_errors_from_elsewhere_are_internal(
        fail: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(cli, "_backbones", lambda args: fail())  # type: ignore[operator]
    assert main(["backbones"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error" in err.splitlines()[-1]


def test_a_tlkit_check_is_a_usage_error_and_debug_shows_its_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["train", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--wise-alpha", "2"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wise_alpha must be a number in" in err
    with pytest.raises(SystemExit) as info:
        main([*argv, "--debug"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "ValueError" in err
    assert err.splitlines()[-1].startswith("tlkit train: error: wise_alpha")


def test_a_bad_flag_value_exits_2_with_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["predict", "run", "x.png", "--top-k", "many"])
    assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "tlkit predict: error: argument --top-k: invalid int value: 'many'"


def test_a_reader_that_stops_early_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tlkit backbones | head -1`: the reader has gone, the write fails with EPIPE; the
    command ends quietly with status 0, not an 'internal error' with a traceback."""
    import tlkit.cli

    def long_listing(args: object) -> int:  # a command's output, without building models
        print("backbone listing\n" * 5000)
        return 0

    monkeypatch.setattr(tlkit.cli, "_backbones", long_listing)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader stopped
    closed = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", closed)
    try:
        assert main(["backbones"]) == 0
    finally:
        closed.close()


def test_backbones_rank_prints_both_scores_and_the_order(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = make_folder(tmp_path / "data", {"red": 60, "blue": 190}, n=4)
    rank = ["backbones", "--rank", str(folder), "--candidates", "tiny_test_net",
            "--image-size", "32", "--verbose", "0"]
    assert main([*rank, "--weights", "none", "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["images"] == 8 and record["order"] == ["tiny_test_net"]
    assert set(record["backbones"]["tiny_test_net"]) >= {"logme", "knn_accuracy",
                                                         "feature_seconds"}
    # One value for all, one named: the named one wins for its backbone ('imagenet' would
    # fail for this one, which has no such weights).
    assert main([*rank, "--weights", "imagenet", "--weights", "tiny_test_net=none",
                 "--by", "knn_accuracy"]) == 0
    out = capsys.readouterr().out
    assert "ranked by knn_accuracy on 8 images of 2 classes" in out
    assert "predicted order (knn_accuracy): tiny_test_net" in out
    with pytest.raises(SystemExit) as info:
        main([*rank, "--weights", "resnet50=none"])
    assert info.value.code == 2
    assert "names a backbone that is not a candidate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["backbones", "--candidates", "mobilenet_v2"])
    assert info.value.code == 2
    assert "pass --rank FOLDER too" in capsys.readouterr().err

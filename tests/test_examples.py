"""The example programs run end to end on a few real Caltech-101 classes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.real_data
def test_quickstart_trains_a_useful_classifier(caltech_dir: Path, mobilenet_weights: Path) -> None:
    quickstart = _load("quickstart")
    result = quickstart.main([
        "--data-dir", str(caltech_dir), "--weights", str(mobilenet_weights),
        "--classes", "3", "--epochs", "1", "--image-size", "96",
    ])
    assert result["classes"] == 3
    assert result["test_images"] > 0
    assert result["test_accuracy"] > 0.8  # chance is 1/3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--weights", "/no/such.weights.h5"], "/no/such.weights.h5"),
        (["--classes", "1"], "--classes must be in"),
    ],
)
def test_quickstart_rejects_bad_arguments(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    quickstart = _load("quickstart")
    with pytest.raises(SystemExit) as info:
        quickstart.parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err

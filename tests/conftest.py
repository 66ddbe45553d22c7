"""Shared fixtures: quiet TensorFlow, the locations of the real data and weights, scripts."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
from _helpers import TINY_SPEC_KWARGS  # noqa: E402

import tlkit  # noqa: E402

# A user-registered backbone, so every test parametrized over list_backbones() proves the
# registry's open door too.
tlkit.register_backbone(tlkit.BackboneSpec(**TINY_SPEC_KWARGS), overwrite=True)

CALTECH_ENV = "TLKIT_CALTECH101_DIR"
WEIGHTS_ENV = "TLKIT_MOBILENETV2_WEIGHTS"


def _env_path(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        pytest.skip(f"{variable} is not set")
    path = Path(value)
    if not path.exists():
        # Set but wrong is a configuration error, not a reason to skip.
        raise FileNotFoundError(f"{variable}={value!r} does not exist")
    return path


@pytest.fixture(scope="session")
def caltech_dir() -> Path:
    """The real ``101_ObjectCategories`` folder (skips when the variable is unset)."""
    return _env_path(CALTECH_ENV)


@pytest.fixture(scope="session")
def mobilenet_weights() -> Path:
    """The ImageNet MobileNetV2 no-top weights file (skips when the variable is unset)."""
    return _env_path(WEIGHTS_ENV)


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import a script of the repository by its path (``examples/x.py``) as a fresh module."""

    def load(relative: str) -> ModuleType:
        path = ROOT / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module

    return load

"""Private: tlkit's Keras objects are registered once Keras is imported, not by ``import tlkit``.

``import tlkit`` imports no TensorFlow (the command line's ``--help`` starts in a blink),
yet ``keras.saving.load_model(path)`` after ``import tlkit`` must still find tlkit's
layers and schedules, whichever of ``import keras`` and ``import tlkit`` comes first:

* Keras already imported: :func:`register_keras_objects` runs at once.
* Otherwise a one-shot finder on ``sys.meta_path`` runs it as soon as the ``keras``
  module has finished executing, unless a tlkit module is itself half-imported then (its
  own ``import keras``); in that case it runs once none is: at the next name looked up on
  the package (``tlkit.ClassifierHead``) or the next import anywhere.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["REGISTERING_MODULES", "register_if_pending", "register_keras_objects",
           "register_when_keras_is_imported"]

# The modules that call keras.saving.register_keras_serializable (a test keeps this list true).
REGISTERING_MODULES = ("tlkit.augment.layer", "tlkit.backbones.preprocessing", "tlkit.features",
                       "tlkit.heads", "tlkit.schedules")


def _initializing(name: str) -> bool:
    module = sys.modules.get(name)
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def _safe_now(*, keras_done: bool = False) -> bool:
    """Keras fully imported and no tlkit module half-imported (no circular import).

    ``keras_done``: called just after the ``keras`` module ran, while the import
    system still flags it as initializing.
    """
    return "keras" in sys.modules and (keras_done or not _initializing("keras")) and not any(
        _initializing(name) for name in list(sys.modules) if name.startswith("tlkit."))


def register_keras_objects() -> None:
    """Import the modules that register tlkit's objects with Keras' serialization."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself; registers tlkit's objects once Keras is imported."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname == "keras" and "keras" not in sys.modules:
            spec = _spec_without(self, fullname)
            if spec is not None and spec.loader is not None:
                run = spec.loader.exec_module

                def exec_module(module: ModuleType) -> None:
                    run(module)
                    self.register_if_safe(keras_done=True)

                spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec
        self.register_if_safe()
        return None

    def register_if_safe(self, *, keras_done: bool = False) -> None:
        """Register (once) and leave ``sys.meta_path`` if that is safe now."""
        if self in sys.meta_path and _safe_now(keras_done=keras_done):
            sys.meta_path.remove(self)
            register_keras_objects()


def _spec_without(finder: Any, fullname: str) -> importlib.machinery.ModuleSpec | None:
    """``fullname``'s spec from the other finders on ``sys.meta_path``."""
    for other in [f for f in sys.meta_path if f is not finder]:
        find = getattr(other, "find_spec", None)
        spec = find(fullname, None) if find is not None else None
        if spec is not None:
            return spec
    return None


def register_when_keras_is_imported() -> None:
    """Register tlkit's Keras objects now if Keras is imported, else once it is."""
    if _safe_now():
        register_keras_objects()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())


def register_if_pending() -> None:
    """Finish a registration that waited for a tlkit module to be fully imported."""
    for finder in [f for f in sys.meta_path if isinstance(f, _AfterKeras)]:
        finder.register_if_safe()

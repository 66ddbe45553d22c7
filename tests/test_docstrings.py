"""Every public parameter is described where a reader looks for it.

The API reference shows types beside described parameters only (a types-only second
list confused readers), so an undescribed parameter would show nothing at all: this
test fails on the day one is added without a line in the docstring's ``Args:``
(``Attributes:`` for dataclasses, whose fields are the parameters).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator

import tlkit
import tlkit.datasets


def _described(doc: str | None, section: str = "Args") -> set[str]:
    text = inspect.cleandoc(doc or "")
    found = re.search(rf"^{section}:\n((?:[ \t]+.*\n?|\n)*)", text, re.M)
    if not found:
        return set()
    return set(re.findall(r"^ {4}\**(\w+)(?: \(.*?\))?:", found.group(1), re.M))


def _parameters(function: Callable) -> list[str]:
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.name not in ("self", "cls") and p.kind not in kinds]


def _public_callables() -> Iterator[tuple[str, Callable, set[str]]]:
    """(name, function, described parameter names) of every public function and method."""
    for module in (tlkit, tlkit.datasets):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if dataclasses.is_dataclass(obj):
                    yield name, obj, _described(obj.__doc__) | _described(obj.__doc__,
                                                                          "Attributes")
                elif obj.__init__ is not object.__init__:
                    yield name, obj.__init__, _described(obj.__doc__) | _described(
                        obj.__init__.__doc__)
                for attribute, member in vars(obj).items():
                    function = getattr(member, "__func__", member)
                    if attribute.startswith("_") or not inspect.isfunction(function):
                        continue
                    if any(attribute in vars(base) for base in obj.__mro__[1:]
                           if not base.__module__.startswith("tlkit")):
                        continue  # a Keras hook (call, build, on_epoch_begin...): Keras's docs
                    if function.__qualname__.split(".")[0] == obj.__name__ and _parameters(
                            function):
                        yield f"{name}.{attribute}", function, _described(function.__doc__)
            elif inspect.isfunction(obj):
                yield name, obj, _described(obj.__doc__)


def test_every_public_parameter_is_described() -> None:
    checked = 0
    undescribed = {}
    for name, function, described in _public_callables():
        checked += 1
        missing = [p for p in _parameters(function) if p not in described]
        if missing:
            undescribed[name] = missing
    assert checked > 60  # the walk reaches the API, not an empty list
    assert not undescribed, f"parameters without a description: {undescribed}"


def test_the_check_finds_an_undescribed_parameter() -> None:
    def documented(a: int, b: int) -> None:
        """Do it.

        Args:
            a: The first.
        """

    assert _described(documented.__doc__) == {"a"}
    assert [p for p in _parameters(documented) if p not in _described(documented.__doc__)] \
        == ["b"]

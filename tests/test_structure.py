"""The package's shape: small modules, imports that flow one way, one name per idea.

These tests read the source (and the public signatures) rather than run models, so they
fail on the day a module grows past a reader's sitting, an import circle appears, a
second name for an existing idea slips into a signature, or a check raises ValueError
for a wrong type.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import tlkit
import tlkit.datasets

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tlkit"
MAX_LINES = 380  # "about 100-350 lines": a module a reader takes in one sitting


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, known: set[str]) -> set[str]:
    """tlkit modules imported by ``path``: at module level and inside functions alike,
    except under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and _is_type_checking(node) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            # The longest known module the name refers to (a module or a name in it).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def test_no_module_is_longer_than_a_sitting() -> None:
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_imports_form_no_circle() -> None:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(path, known) - {name} for name, path in modules.items()}
    # A package's __init__ re-exports its modules; it is the face, not a room in the flow.
    graph = {name: {d for d in deps if not modules[d].name == "__init__.py" or d == "tlkit"}
             for name, deps in graph.items() if modules[name].name != "__init__.py"}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                pytest.fail(f"import circle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    # Nothing in the library imports the package face (tlkit) itself: data flows one way.
    assert not [n for n, deps in graph.items() if "tlkit" in deps]


def test_the_cycle_check_catches_a_circle(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from tlkit.b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from tlkit.a import y\n")
    assert _imports(tmp_path / "a.py", {"tlkit.a", "tlkit.b"}) == {"tlkit.b"}
    assert _imports(tmp_path / "b.py", {"tlkit.a", "tlkit.b"}) == {"tlkit.a"}


def test_examples_and_benchmarks_use_only_the_public_api() -> None:
    offenders = []
    for path in [*ROOT.glob("examples/*.py"), *ROOT.glob("benchmarks/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tlkit"):
                if node.module not in ("tlkit", "tlkit.datasets"):
                    offenders.append(f"{path.name}: from {node.module}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "tlkit" and node.attr not in tlkit.__all__ \
                    and node.attr != "datasets":
                offenders.append(f"{path.name}: tlkit.{node.attr}")
    assert not offenders, offenders


# One name per idea ------------------------------------------------------------------------
# Each idea has one parameter name; the others on its line must never appear in a public
# signature (see docs/conventions.rst).
SYNONYMS = {
    "augment": ("augmentation", "aug", "augmenter", "policy_or_layer"),
    "image_size": ("input_shape", "target_size", "img_size", "resolution"),
    "verbose": ("progress", "show_progress", "quiet", "silent"),
    "cache_dir": ("cache_folder", "cache_path", "download_dir"),
    "model_name": ("name_of_model",),
    "class_names": ("labels_names", "classes", "target_names"),
    "y_score": ("y_prob", "probabilities", "scores"),
    "batch_size": ("batch",),
}


def _public_callables() -> Iterator[tuple[str, Callable]]:
    for module, names in ((tlkit, tlkit.__all__), (tlkit.datasets, tlkit.datasets.__all__)):
        for name in names:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                yield f"{name}.__init__", obj.__init__
                for attr, member in vars(obj).items():
                    # Overrides of Keras' own methods keep Keras' names (build(input_shape)).
                    if attr.startswith("_") or any(attr in vars(base) for base in obj.__mro__[1:]):
                        continue
                    member = member.__func__ if isinstance(member, (classmethod, staticmethod)) \
                        else member
                    if inspect.isfunction(member):
                        yield f"{name}.{attr}", member
            elif callable(obj):
                yield name, obj


def test_public_signatures_use_one_name_per_idea() -> None:
    forbidden = {old: new for new, olds in SYNONYMS.items() for old in olds}
    found = []
    for where, function in _public_callables():
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            continue
        found += [f"{where}({p}=...): use {forbidden[p]}=" for p in parameters if p in forbidden]
    assert not found, found


def test_verbose_is_an_int_everywhere() -> None:
    wrong = []
    for where, function in _public_callables():
        try:
            parameter = inspect.signature(function).parameters.get("verbose")
        except (TypeError, ValueError):
            continue
        if parameter is not None and (parameter.default not in (0, 1, 2)
                                      or isinstance(parameter.default, bool)):
            wrong.append(f"{where}: verbose={parameter.default!r}")
    assert not wrong, wrong


def test_no_check_raises_value_error_for_a_wrong_type() -> None:
    """A message that says what TYPE an argument must be belongs to a TypeError."""
    type_words = ("must be an int", "must be a number", "must be a str", "must be a bool",
                  "must be a sequence", "must be a keras", "must be True or False")
    offenders = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and getattr(node.exc.func, "id", "") == "ValueError"):
                continue
            text = " ".join(c.value for c in ast.walk(node.exc)
                            if isinstance(c, ast.Constant) and isinstance(c.value, str))
            if any(word in text for word in type_words):
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, offenders


# Each row: a call with one bad argument, the exception it must raise, and the argument the
# message must name. Wrong types -> TypeError; wrong values -> ValueError.
def _backbone(**kwargs: object) -> object:
    return tlkit.build_backbone("mobilenet_v2", weights=None, **kwargs)


BAD_CALLS = [
    (lambda: _backbone(image_size="64"), TypeError, "image_size"),
    (lambda: _backbone(image_size=(64, 64, 3)), ValueError, "image_size"),
    (lambda: _backbone(pooling=3), TypeError, "pooling"),
    (lambda: _backbone(pooling="sum"), ValueError, "pooling"),
    (lambda: _backbone(trainable=1), TypeError, "trainable"),
    (lambda: tlkit.ClassifierHead("3"), TypeError, "num_classes"),
    (lambda: tlkit.ClassifierHead(1), ValueError, "num_classes"),
    (lambda: tlkit.ClassifierHead(3, dropout="0.2"), TypeError, "dropout"),
    (lambda: tlkit.ClassifierHead(3, dropout=2.0), ValueError, "dropout"),
    (lambda: tlkit.ClassifierHead(3, l2="x"), TypeError, "l2"),
    (lambda: tlkit.AugmentationPolicy(zoom="a"), TypeError, "zoom"),
    (lambda: tlkit.AugmentationPolicy(zoom=3.0), ValueError, "zoom"),
    (lambda: tlkit.AugmentationPolicy(seed=1.5), TypeError, "seed"),
    (lambda: tlkit.compute_class_weights([0, 1], beta="x"), TypeError, "beta"),
    (lambda: tlkit.compute_class_weights([0, 1], num_classes=2.0), TypeError, "num_classes"),
    (lambda: tlkit.WeightInterpolation("half"), TypeError, "alpha"),
    (lambda: tlkit.WeightInterpolation(2.0), ValueError, "alpha"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).split(val="0.1"), TypeError, "val"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).split(test=1.5), ValueError, "test"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).split_per_class(train=2.5), TypeError, "train"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).to_dataset(0), ValueError, "batch_size"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).to_dataset(1.5), TypeError, "batch_size"),
    (lambda: tlkit.ImageSet(["a"], [0], ["x"]).to_dataset(1, shuffle="yes"), TypeError,
     "shuffle"),
    (lambda: tlkit.ImageSet(["a"], [0], "xy"), TypeError, "class_names"),
    (lambda: tlkit.EvaluationReport([0, 1], [0, 1], class_names="ab"), TypeError, "class_names"),
    (lambda: tlkit.list_backbones(3), TypeError, "pattern"),
    (lambda: tlkit.get_backbone_spec("nope"), ValueError, "backbone name"),
    (lambda: tlkit.extract_features(_backbone(image_size=32), [1, 2]), TypeError, "images"),
    (lambda: tlkit.fit_head(tlkit.ClassifierHead(2), np.zeros((4, 3)), np.zeros(4), epochs=0),
     ValueError, "epochs"),
]


@pytest.mark.parametrize(("call", "error", "argument"), BAD_CALLS,
                         ids=[f"{row[2]}-{row[1].__name__}-{i}" for i, row in enumerate(BAD_CALLS)])
def test_bad_arguments_raise_the_right_type_and_name_the_argument(
    call: Callable[[], object], error: type, argument: str
) -> None:
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    assert argument in str(info.value)
    if "Unknown" not in str(info.value):
        assert "Received:" in str(info.value)


def test_numpy_integers_are_accepted_where_ints_are() -> None:
    head = tlkit.ClassifierHead(np.int64(3), hidden_units=(np.int32(4),))
    assert head.num_classes == 3 and head.hidden_units == (4,)
    parts = tlkit.ImageSet([f"{i}" for i in range(10)], [0] * 5 + [1] * 5, ["a", "b"]).split(
        val=0.0, test=0.2, seed=np.int64(1))
    assert len(parts.test) == 2
    weights = tlkit.compute_class_weights([0, 1, 1], num_classes=np.int64(3), missing="zero")
    assert set(weights) == {0, 1, 2}


def test_nothing_but_the_library_is_shipped_in_the_package() -> None:
    """Files inside src/tlkit are installed with it: no test fixtures there."""
    shipped = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*") if p.is_file()
               and "__pycache__" not in p.parts]
    assert "conftest.py" not in {Path(p).name for p in shipped}
    assert not [p for p in shipped if not p.endswith(".py")], shipped


# The lazy package face ----------------------------------------------------------------------
def _run(code: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True, cwd=ROOT)
    return done.stdout.strip()


def test_import_tlkit_imports_no_tensorflow() -> None:
    assert _run("import sys, tlkit; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
                ) == "False False"


def test_every_public_name_resolves_to_its_module_and_dir_lists_it() -> None:
    import importlib

    sources = tlkit._SOURCES
    assert sorted([n for names in sources.values() for n in names] + ["__version__"]) == \
        sorted(tlkit.__all__)
    for module, names in sources.items():
        for name in names:
            assert getattr(tlkit, name) is getattr(importlib.import_module(module), name)
    assert set(tlkit.__all__) <= set(dir(tlkit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        tlkit.nope  # noqa: B018


def test_the_type_checking_imports_match_the_lazy_table() -> None:
    """Type checkers and editors read the TYPE_CHECKING block: it names the same sources."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    block = next(n for n in ast.walk(tree) if isinstance(n, ast.If) and _is_type_checking(n))
    static = {alias.name: node.module for node in ast.walk(block)
              if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert static == tlkit._MODULE_OF


def test_the_registering_modules_are_all_listed() -> None:
    from tlkit._registration import REGISTERING_MODULES

    registering = {name for name, path in _modules().items()
                   if "register_keras_serializable" in path.read_text()
                   and name != "tlkit._registration"}
    assert registering == set(REGISTERING_MODULES)


@pytest.mark.parametrize("first", ["import tlkit; import keras", "import keras; import tlkit",
                                   "import tlkit; tlkit.ClassifierHead; import keras"])
def test_keras_finds_tlkit_objects_after_import_tlkit(first: str) -> None:
    names = ["tlkit>ClassifierHead", "tlkit>AugmentationLayer", "tlkit>ShiftedSchedule"]
    assert _run(f"{first}\nprint([keras.saving.get_registered_object(n) is None "
                f"for n in {names!r}])") == "[False, False, False]"

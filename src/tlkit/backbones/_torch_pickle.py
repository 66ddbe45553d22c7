"""The restricted unpickler behind :mod:`tlkit.backbones.torch_state`.

A state dict's pickle names a few globals: ``collections.OrderedDict``, the functions that
rebuild a tensor (``torch._utils._rebuild_tensor_v2``) and the storage types
(``torch.FloatStorage``...). Each is handed out as a stand-in that only records what the
file says: a tensor becomes a :class:`TensorRef`, checked against the size its storage
declares before any byte of the storage is read, and a storage a :class:`StorageRef`.
The stand-ins are made afresh for each load and have no ``__dict__``.

Two pickle opcodes can act on objects: REDUCE calls one (only the stand-ins above can be
called) and BUILD sets an object's state. BUILD is replaced: it is accepted on an
``OrderedDict`` (a state dict carries its ``_metadata`` that way; it is dropped) and
refused on anything else, so a file cannot change a stand-in, a function or a class. That
needs the pure-Python unpickler (``pickle._Unpickler``, whose opcode table a subclass can
change); it is slower than the C one, but a state dict's pickle is only its names and
shapes (the tensors' bytes are stored beside it). Reads are capped at what the file has
left, so a length declared inside the pickle cannot make it allocate more than that.
"""

from __future__ import annotations

import collections
import operator
import pickle
from typing import IO, Any

import numpy as np

STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_REBUILD_NAMES = ("_rebuild_tensor_v2", "_rebuild_tensor")


class Refused(pickle.UnpicklingError):
    """The file names a global outside the allow-list, or sets the state of an object."""


class Malformed(ValueError):
    """The file is readable but is not what a state dict holds; the message says why."""


class StorageType:
    """Stands in for ``torch.<name>``: only its dtype matters."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str) -> None:
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class StorageRef:
    """``numel`` elements of dtype ``dtype`` at ``offset`` in the storage named ``key``."""

    __slots__ = ("key", "dtype", "numel", "offset")

    def __init__(self, key: str, dtype: np.dtype, numel: int, offset: int = 0) -> None:
        self.key, self.dtype, self.numel, self.offset = key, dtype, numel, offset

    def __repr__(self) -> str:
        return f"storage {self.key!r}"


class TensorRef:
    """A tensor as the file describes it: a checked layout in a :class:`StorageRef`."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage: StorageRef, offset: int, size: tuple[int, ...],
                 stride: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __repr__(self) -> str:
        return f"tensor of shape {self.size}"


class _RebuildTensor:
    """Stands in for ``torch._utils._rebuild_tensor_v2``: returns a :class:`TensorRef`."""

    __slots__ = ()

    def __call__(self, storage: Any, offset: Any, size: Any, stride: Any,
                 *_: Any) -> TensorRef:
        if not isinstance(storage, StorageRef):
            raise Malformed(f"a tensor is built on {_describe(storage)}, not on a storage")
        return TensorRef(storage, *check_layout(storage.numel, offset, size, stride))

    def __repr__(self) -> str:
        return "torch._utils._rebuild_tensor_v2"


def check_layout(numel: int, offset: Any, size: Any, stride: Any
                 ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The layout as ints, if it addresses distinct elements within ``numel`` ones.

    Args:
        numel: The number of elements the storage declares.
        offset: The tensor's first element in the storage.
        size: The tensor's shape.
        stride: The storage elements between neighbours along each dimension.

    Returns:
        ``(offset, size, stride)`` as an int and tuples of ints.

    Raises:
        Malformed: Negative numbers, a stride of 0 or any other layout that reads an
            element twice (the tensor would be larger than its storage), or one that
            reaches past the storage's end.

    Example:
        >>> check_layout(6, 0, [3, 2], [1, 3])  # a transposed 2 x 3 matrix
        (0, (3, 2), (1, 3))
        >>> check_layout(1, 0, (1000, 1000), (0, 0))
        Traceback (most recent call last):
        ...
        tlkit.backbones._torch_pickle.Malformed: a tensor of shape (1000, 1000) and strides (0, 0) at offset 0 reads elements more than once ...
    """
    offset = operator.index(offset)
    size = tuple(operator.index(n) for n in size)
    stride = tuple(operator.index(s) for s in stride)
    described = f"a tensor of shape {size} and strides {stride} at offset {offset}"
    if len(size) != len(stride) or len(size) > 32:
        raise Malformed(f"{described} has not one stride per dimension (or over 32 of them)")
    if offset < 0 or min(size + stride, default=0) < 0:
        raise Malformed(f"{described} has a negative offset, dimension or stride")
    span = 0  # elements from the first to the last one the tensor reads
    if all(size):
        span = 1
        for step, n in sorted((s, n) for n, s in zip(size, stride) if n > 1):
            if step < span:
                raise Malformed(f"{described} reads elements more than once (a stride of 0, "
                                f"or one shorter than the dimensions below it): refused, "
                                f"as it would make a few stored bytes into a large array")
            span += (n - 1) * step
    if offset + span > numel:
        raise Malformed(f"{described} does not fit its storage of {numel} elements")
    return offset, size, stride


class _Capped:
    """A file's ``read`` and ``readline`` that return at most ``left`` bytes in all, and
    lines that end with a newline (the text opcodes' arguments, e.g. a global's name)."""

    __slots__ = ("file", "left")

    def __init__(self, file: IO[bytes], left: int) -> None:
        self.file, self.left = file, left

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self.file.readline(self.left)
        self.left -= len(data)
        if not data.endswith(b"\n"):  # unframed, pickle's own reader does not check
            raise Malformed("its pickle ends within a line: it is truncated, or not a "
                            "pickle")
        return data


class _Opcodes(dict):
    """The unpickler's opcode table: an unknown opcode is named (not a bare KeyError)."""

    def __missing__(self, code: int) -> Any:
        raise pickle.UnpicklingError(f"invalid load key, {bytes([code])!r}")


class Unpickler(pickle._Unpickler):  # noqa: SLF001 - the pure-Python one: see the module
    """Loads one pickle of a state dict file into stand-ins; refuses everything else.

    Args:
        file: The open file, at the pickle's start.
        left: The bytes the file holds from there: no read asks for more.
        storages: The storages declared so far (legacy files: the tensors' storages
            follow the pickle); a new dict if ``None``.
    """

    def __init__(self, file: IO[bytes], left: int,
                 storages: dict[str, StorageRef] | None = None) -> None:
        self.capped = _Capped(file, left)
        super().__init__(self.capped)
        self.storages = {} if storages is None else storages
        self.views: dict[str, StorageRef] = {}
        rebuild = _RebuildTensor()
        self.allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            **{("torch._utils", name): rebuild for name in _REBUILD_NAMES},
            **{("torch", name): StorageType(name) for name in STORAGE_DTYPES}}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise Refused(f"refused to load the global {module}.{name}: a weights file "
                          f"holds tensors only, and loading this one could run code")
        return self.allowed[(module, name)]

    def persistent_load(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], StorageType) and isinstance(pid[2], str)):
            raise Malformed(f"a persistent id {pid!r:.80} is not a storage's")
        key, dtype, numel = pid[2], pid[1].dtype, operator.index(pid[4])
        if numel < 0:
            raise Malformed(f"storage {key!r} declares {numel} elements")
        known = self.storages.setdefault(key, StorageRef(key, dtype, numel))
        if (known.dtype, known.numel) != (dtype, numel):
            raise Malformed(f"storage {key!r} is declared as {numel} x {pid[1]} and as "
                            f"{known.numel} x {known.dtype}")
        if len(pid) == 5 or pid[5] is None:
            return known
        # Files of PyTorch before 0.4: (view key, offset, size) of a shared storage.
        view_key, offset, size = pid[5]
        offset, size = operator.index(offset), operator.index(size)
        if not isinstance(view_key, str) or offset < 0 or size < 0 or offset + size > numel:
            raise Malformed(f"a view of storage {key!r} ({offset}, {size}) is not within "
                            f"its {numel} elements")
        return self.views.setdefault(view_key, StorageRef(key, dtype, size, offset))

    def load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not collections.OrderedDict:
            raise Refused(f"refused to set the state of {_describe(target)} (pickle BUILD): "
                          f"only a state dict's OrderedDict takes state, and changing other "
                          f"objects could change how the file is read")
        if not (isinstance(state, dict) and all(isinstance(k, str) for k in state)):
            raise Refused(f"refused to set the state of an OrderedDict to {_describe(state)}"
                          f" (pickle BUILD): a state dict's is a dict of attributes")
        # That state is the _metadata (the modules' versions): the tensors do not need it.

    dispatch = _Opcodes(pickle._Unpickler.dispatch)  # noqa: SLF001
    dispatch[pickle.BUILD[0]] = load_build


def _describe(obj: Any) -> str:
    if isinstance(obj, (StorageType, StorageRef, TensorRef, _RebuildTensor)):
        return repr(obj)
    return "the class OrderedDict" if obj is collections.OrderedDict else \
        f"a {type(obj).__name__}"

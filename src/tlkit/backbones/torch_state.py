"""Reading a PyTorch ``state_dict`` file (``.pth``) without PyTorch, and safely.

A ``.pth`` file is a pickle, and a pickle can run any code while it loads. This reader
unpickles with an allow-list: the ordered dict that holds the tensors, the functions that
rebuild a tensor from its storage, and the storage types. Every other global in the file
is refused with :class:`pickle.UnpicklingError` before anything is called, so a file that
names ``os.system`` (or any other function) fails to load and runs nothing.

Both formats ``torch.save`` has written are read: the zip archive (PyTorch 1.6 and later)
and the legacy one (a magic number, a protocol version, system information, the pickled
object, the storage keys, then each storage's raw bytes). A tensor is rebuilt from its
storage with its own offset, shape and strides (the weights converted from TensorFlow
checkpoints are permuted views of their storage, not contiguous arrays).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from typing import IO, Any

import numpy as np

__all__ = ["read_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Storage type names as pickled (torch.FloatStorage, ...) and their NumPy dtypes.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for ``torch.<Name>Storage`` while unpickling: only its dtype matters."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2``: a view of the storage, copied out."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError("a tensor refers to a storage that was not read")
    needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 if all(size) else 0
    if offset < 0 or any(s < 0 for s in stride) or needed > storage.size:
        raise pickle.UnpicklingError(f"a tensor of shape {size} and strides {stride} at "
                                     f"offset {offset} does not fit its storage of "
                                     f"{storage.size} elements")
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * item for s in stride),
                                           writeable=False)
    return np.array(view)  # contiguous, owns its memory


# The only globals a state dict file may name (module, name) -> what stands in for it.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """An unpickler that knows only the allow-list and resolves storages by key.

    ``read_storage(key, dtype, numel)`` reads a storage at once (zip files); without it a
    storage is a :class:`_Pending` placeholder and tensors are :class:`_Deferred` until the
    bytes that follow the pickle are read (legacy files).
    """

    def __init__(self, file: IO[bytes], *, read_storage: Any = None) -> None:
        super().__init__(file)
        self.storages: dict[str, Any] = {}
        self.read_storage = read_storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load the global {module}.{name}: a weights file holds tensors "
                f"only, and loading this one could run code. Is it a PyTorch state dict?")
        found = _ALLOWED[(module, name)]
        if found is _rebuild_tensor and self.read_storage is None:
            return _Deferred
        return found

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.80}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if key not in self.storages:
            self.storages[key] = self.read_storage(key, storage_type.dtype, numel) \
                if self.read_storage else _Pending(storage_type.dtype, numel)
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # very old files: (view_key, offset, size) of a shared storage
            view_key, offset, size = view
            self.storages.setdefault(str(view_key),
                                     _View(self.storages[key], int(offset), int(size)))
            return self.storages[str(view_key)]
        return self.storages[key]


class _Pending:
    """A legacy storage whose bytes follow the pickle; filled in afterwards."""

    def __init__(self, dtype: np.dtype, numel: int) -> None:
        self.dtype, self.numel = dtype, numel


class _View:
    def __init__(self, base: _Pending, offset: int, size: int) -> None:
        self.base, self.offset, self.size = base, offset, size


class _Deferred:
    """A tensor of a legacy file, rebuilt once its storage's bytes are read."""

    def __init__(self, storage: Any, *args: Any) -> None:
        self.storage, self.args = storage, args


def read_torch_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read the tensors of a PyTorch ``state_dict`` file as NumPy arrays, without PyTorch.

    Args:
        path: A file written by ``torch.save(model.state_dict(), path)``, zip or legacy.

    Returns:
        The state dict's keys (``"_conv_stem.weight"``, ...) and their arrays, in order.

    Raises:
        pickle.UnpicklingError: The file names any global outside the allow-list (it could
            run code) or its tensors do not fit their storages.
        ValueError: The file is not a PyTorch file, or holds something else than a dict
            of tensors.

    Example:
        A file that would run a command when unpickled is refused, and runs nothing:

        >>> import os, pickle, tempfile
        >>> class Evil:
        ...     def __reduce__(self):
        ...         return (os.system, ("echo pwned",))
        >>> path = os.path.join(tempfile.mkdtemp(), "evil.pth")
        >>> with open(path, "wb") as file:
        ...     pickle.dump(Evil(), file, protocol=2)
        >>> read_torch_state_dict(path)
        Traceback (most recent call last):
        ...
        ValueError: '...evil.pth' is not a PyTorch weights file (refused to load the global posix.system: ...
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        state = _read_zip(path)
    else:
        with open(path, "rb") as file:
            state = _read_legacy(file, path)
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) for k, v in state.items()):
        raise ValueError(f"{path!r} does not hold a state dict (a dict of tensors).")
    return dict(state)


def _read_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(f"{path!r} is a zip file but not a PyTorch one (no data.pkl).")
        prefix = pickles[0][: -len("data.pkl")]

        def read_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            data = archive.read(f"{prefix}data/{key}")
            return np.frombuffer(data, dtype=dtype.newbyteorder("<"), count=numel).copy()

        with archive.open(pickles[0]) as file:
            return _Unpickler(io.BytesIO(file.read()), read_storage=read_storage).load()


def _read_legacy(file: IO[bytes], path: str) -> Any:
    try:
        magic = _Unpickler(file).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise ValueError(f"{path!r} is not a PyTorch weights file ({error}).") from error
    if magic != _LEGACY_MAGIC:
        raise ValueError(f"{path!r} is not a PyTorch weights file (no magic number).")
    _Unpickler(file).load()  # protocol version
    info = _Unpickler(file).load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise ValueError(f"{path!r} was written on a big-endian machine; not supported.")
    unpickler = _Unpickler(file)
    state = unpickler.load()
    keys = _Unpickler(file).load()
    arrays: dict[int, np.ndarray] = {}
    for key in keys:
        pending = unpickler.storages.get(str(key))
        if not isinstance(pending, _Pending):
            raise pickle.UnpicklingError(f"storage {key!r} is listed but never used")
        (numel,) = struct.unpack("<q", file.read(8))
        data = file.read(numel * pending.dtype.itemsize)
        if numel != pending.numel or len(data) != numel * pending.dtype.itemsize:
            raise ValueError(f"{path!r} is truncated or damaged (storage {key!r}).")
        arrays[id(pending)] = np.frombuffer(data, dtype=pending.dtype.newbyteorder("<"))

    def storage_of(ref: Any) -> np.ndarray:
        if isinstance(ref, _View):
            return storage_of(ref.base)[ref.offset: ref.offset + ref.size]
        return arrays[id(ref)]

    if not isinstance(state, dict):
        raise ValueError(f"{path!r} does not hold a state dict (a dict of tensors).")
    return collections.OrderedDict(
        (name, _rebuild_tensor(storage_of(t.storage), *t.args) if isinstance(t, _Deferred) else t)
        for name, t in state.items())

"""Reading a PyTorch ``state_dict`` file (``.pth``) without PyTorch, and safely.

A ``.pth`` file is a pickle, and a pickle can run any code while it loads. This reader
unpickles with an allow-list (:mod:`tlkit.backbones._torch_pickle`): the ordered dict that
holds the tensors, the functions that rebuild a tensor from its storage, and the storage
types, each replaced by a stand-in that only records what the file says. Every other
global is refused with :class:`UnsafePickleError` before anything is called, so a file
that names ``os.system`` (or any other function) fails to load and runs nothing; so is a
file that sets the state of anything but an ``OrderedDict`` (pickle's BUILD).

Both formats ``torch.save`` has written are read: the zip archive (PyTorch 1.6 and later)
and the legacy one (a magic number, a protocol version, system information, the pickled
object, the storage keys, then each storage's raw bytes). A tensor is rebuilt from its
storage with its own offset, shape and strides (the weights converted from TensorFlow
checkpoints are permuted views of their storage, not contiguous arrays). A layout that
reads an element twice (a stride of 0) or reaches past its storage is refused before any
storage is read, and so is a zip member larger or smaller than its storage declares: the
arrays returned never hold more elements than the file's storages.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from typing import IO, Any

import numpy as np

from tlkit.backbones._torch_pickle import (
    Malformed,
    Refused,
    StorageRef,
    TensorRef,
    Unpickler,
)

__all__ = ["UnsafePickleError", "read_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A weights file was refused: it names a global outside the allow-list (loading it
    could run code) or sets the state of an object other than an ``OrderedDict``.

    It is a :class:`pickle.UnpicklingError` and, as the file is not a state dict, a
    :class:`ValueError`; the message names the file and what was refused.
    """


def read_torch_state_dict(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read the tensors of a PyTorch ``state_dict`` file as NumPy arrays, without PyTorch.

    Args:
        path: A file written by ``torch.save(model.state_dict(), path)``, zip or legacy.

    Returns:
        The state dict's keys (``"_conv_stem.weight"``, ...) and their arrays, in order.

    Raises:
        UnsafePickleError: The file names any global outside the allow-list (it could
            run code) or sets the state of anything but an ``OrderedDict``. It is a
            :class:`pickle.UnpicklingError` and a :class:`ValueError`.
        ValueError: The file is not a PyTorch file, is damaged, holds something else than
            a dict of tensors, or a tensor does not fit its storage: ``"'<path>' is not a
            PyTorch state dict: <reason>"``.
        OSError: The file cannot be opened.

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
        tlkit.backbones.torch_state.UnsafePickleError: '...evil.pth' is not a PyTorch state dict: refused to load the global posix.system: ...
    """
    path = os.fspath(path)
    with open(path, "rb") as file:  # a missing or unreadable file raises its own OSError
        try:
            if zipfile.is_zipfile(file):
                with zipfile.ZipFile(file) as archive:
                    return _read_zip(archive)
            file.seek(0)
            return _read_legacy(file)
        except Refused as error:
            raise UnsafePickleError(f"{path!r} is not a PyTorch state dict: {error}") from error
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways
            raise ValueError(f"{path!r} is not a PyTorch state dict: {_reason(error)}"
                             ) from error


def _reason(error: Exception) -> str:
    if isinstance(error, Malformed):
        return str(error)
    return f"expected a pickled dict of tensors, but reading it failed ({_detail(error)})"


def _detail(error: Exception) -> str:
    return str(error) if isinstance(error, Malformed) else \
        f"{type(error).__name__}: {str(error)[:200]}"


def _read_zip(archive: zipfile.ZipFile) -> dict[str, np.ndarray]:
    pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pickles) != 1:
        raise Malformed(f"a zip archive, but with {len(pickles)} data.pkl files where "
                        f"torch.save writes one")
    info = archive.getinfo(pickles[0])
    storages: dict[str, StorageRef] = {}
    with archive.open(info) as file:
        tensors = _tensor_refs(Unpickler(file, info.file_size, storages).load())
    prefix = pickles[0][: -len("data.pkl")]
    arrays = {}
    for key in dict.fromkeys(tensor.storage.key for tensor in tensors.values()):
        storage = storages[key]
        name, nbytes = f"{prefix}data/{key}", storage.numel * storage.dtype.itemsize
        try:
            member = archive.getinfo(name)
        except KeyError:
            raise Malformed(f"a tensor needs the storage {name!r}, which the archive does "
                            f"not hold") from None
        if member.file_size != nbytes:  # checked before anything is decompressed
            raise Malformed(f"the storage {name!r} holds {member.file_size} bytes where "
                            f"the pickle declares {storage.numel} x {storage.dtype} "
                            f"({nbytes} bytes)")
        arrays[key] = np.frombuffer(archive.read(member),
                                    dtype=storage.dtype.newbyteorder("<"))
    return _rebuild(tensors, arrays)


def _read_legacy(file: IO[bytes]) -> dict[str, np.ndarray]:
    left = os.fstat(file.fileno()).st_size

    def load(storages: dict[str, StorageRef] | None = None) -> Any:
        nonlocal left
        unpickler = Unpickler(file, left, storages)
        obj = unpickler.load()
        left = unpickler.capped.left
        return obj

    try:
        magic = load()
    except Refused:
        raise
    except Exception as error:  # noqa: BLE001 - not a pickle at all
        raise Malformed(f"expected a zip archive or a legacy torch.save file, which starts "
                        f"with a pickled magic number ({_detail(error)})") from error
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise Malformed("expected a zip archive or a legacy torch.save file, which starts "
                        "with PyTorch's magic number")
    load()  # protocol version
    info = load()
    if isinstance(info, dict) and not info.get("little_endian", True):
        raise Malformed("it was written on a big-endian machine; this reader does not "
                        "support that")
    storages: dict[str, StorageRef] = {}
    tensors = _tensor_refs(load(storages))
    keys = load()
    if not (isinstance(keys, list) and all(isinstance(key, str) for key in keys)):
        raise Malformed("expected the list of storage keys after the state dict")
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        storage = storages.get(key)
        if storage is None or key in arrays:
            raise Malformed(f"storage {key!r} is listed but no tensor declared it, or "
                            f"listed twice")
        nbytes = storage.numel * storage.dtype.itemsize
        head = file.read(min(8, left))
        data = file.read(min(nbytes, left - len(head)))
        left -= len(head) + len(data)
        if len(head) != 8 or struct.unpack("<q", head)[0] != storage.numel \
                or len(data) != nbytes:
            raise Malformed(f"storage {key!r} is truncated or damaged (expected "
                            f"{storage.numel} x {storage.dtype})")
        arrays[key] = np.frombuffer(data, dtype=storage.dtype.newbyteorder("<"))
    return _rebuild(tensors, arrays)


def _tensor_refs(state: Any) -> dict[str, TensorRef]:
    if not isinstance(state, dict):
        raise Malformed(f"expected a dict of tensors, found a {type(state).__name__}")
    for key, value in state.items():
        if not (isinstance(key, str) and isinstance(value, TensorRef)):
            raise Malformed(f"expected a dict of tensors, but its key {key!r:.80} holds "
                            f"a {type(value).__name__}")
    return dict(state)


def _rebuild(tensors: dict[str, TensorRef], arrays: dict[str, np.ndarray]
             ) -> dict[str, np.ndarray]:
    """Each tensor as a contiguous array of its own (a copy of its view of the storage)."""
    rebuilt = {}
    for name, tensor in tensors.items():
        ref = tensor.storage
        if ref.key not in arrays:
            raise Malformed(f"the tensor {name!r} needs the storage {ref.key!r}, which the "
                            f"file does not hold")
        storage = arrays[ref.key][ref.offset: ref.offset + ref.numel]
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[tensor.offset:], shape=tensor.size,
            strides=tuple(s * item for s in tensor.stride), writeable=False)
        rebuilt[name] = np.array(view)  # contiguous, owns its memory
    return rebuilt

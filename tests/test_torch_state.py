"""The PyTorch state dict reader (tlkit.backbones.torch_state) on hostile and damaged files.

Every file is written here, opcode by opcode (pickle protocol 2), so each test shows the
bytes it is about: a genuine state dict as ``torch.save`` writes it, and the same with one
thing changed.
"""

from __future__ import annotations

import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tlkit.backbones.torch_state import UnsafePickleError, read_torch_state_dict

MAGIC = 0x1950A86A20F9469CFC6C
REBUILD = b"ctorch._utils\n_rebuild_tensor_v2\n"
ORDERED_DICT = b"ccollections\nOrderedDict\n"


def _str(text: str) -> bytes:  # BINUNICODE
    return b"X" + struct.pack("<I", len(text.encode())) + text.encode()


def _int(n: int) -> bytes:  # BININT
    return b"J" + struct.pack("<i", n)


def _ints(values: tuple[int, ...]) -> bytes:  # MARK ints TUPLE
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _tensor(key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...], *,
            legacy: bool, kind: str = "FloatStorage") -> bytes:
    """_rebuild_tensor_v2((storage pid), offset 0, size, stride, False, {})"""
    pid = (b"(" + _str("storage") + f"ctorch\n{kind}\n".encode() + _str(key) + _str("cpu")
           + _int(numel) + (b"N" if legacy else b"") + b"tQ")  # TUPLE, BINPERSID
    return REBUILD + b"(" + pid + _int(0) + _ints(size) + _ints(stride) + b"\x89}tR"


def _state(tensors: dict[str, bytes], before: bytes = b"") -> bytes:
    """OrderedDict() with the tensors, then BUILD {'_metadata': {}} as torch writes it."""
    items = b"".join(_str(name) + tensor + b"s" for name, tensor in tensors.items())
    return (b"\x80\x02" + before + ORDERED_DICT + b")R" + items
            + b"}" + _str("_metadata") + b"}sb.")


def _zip(path: Path, pickled: bytes, storages: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", pickled)
        for key, data in storages.items():
            archive.writestr(f"archive/data/{key}", data)
    return path


def _legacy(path: Path, pickled: bytes, storages: dict[str, bytes], itemsize: int = 4,
            keys: list[str] | None = None) -> Path:
    header = b"".join(pickle.dumps(h, protocol=2) for h in (
        MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}))
    keys = list(storages) if keys is None else keys
    body = b"".join(struct.pack("<q", len(storages[k]) // itemsize) + storages[k] for k in keys)
    path.write_bytes(header + pickled + pickle.dumps(keys, protocol=2) + body)
    return path


# A genuine state dict: a 2 x 3 matrix stored transposed (strides (1, 2)), and a vector.
STORED = np.arange(6, dtype="<f4")
EXPECTED = {"conv.weight": STORED.reshape(3, 2).T, "bn.bias": STORED[:4]}


def _genuine(tmp_path: Path, legacy: bool) -> Path:
    pickled = _state({"conv.weight": _tensor("0", 6, (2, 3), (1, 2), legacy=legacy),
                      "bn.bias": _tensor("1", 4, (4,), (1,), legacy=legacy)})
    storages = {"0": STORED.tobytes(), "1": STORED[:4].tobytes()}
    if legacy:
        return _legacy(tmp_path / "genuine_legacy.pth", pickled, storages)
    return _zip(tmp_path / "genuine.pth", pickled, storages)


def _assert_genuine_loads(tmp_path: Path) -> None:
    for legacy in (False, True):
        read = read_torch_state_dict(_genuine(tmp_path, legacy))
        assert list(read) == list(EXPECTED)
        for name, array in EXPECTED.items():
            np.testing.assert_array_equal(read[name], array)
            assert read[name].dtype == np.float32


# BUILD (set the state of the object below it) on a stand-in the reader hands out.
BUILDS = {
    # The reviewer's file: every later load failed once FloatStorage's dtype was 'f8'.
    "storage-type": b"ctorch\nFloatStorage\n}" + _str("dtype") + _str("f8") + b"sb0",
    # (None, {'__defaults__': (7,)}): setattr on the rebuild function.
    "rebuild-function": REBUILD + b"N}" + _str("__defaults__") + _ints((7,)) + b"s\x86b0",
    # A tensor (before: an ndarray, whose BUILD called ndarray.__setstate__).
    "tensor": _tensor("9", 1, (1,), (1,), legacy=False) + b"}" + _str("x") + _int(1) + b"sb0",
}


@pytest.mark.parametrize("target", list(BUILDS))
def test_build_on_anything_but_an_ordered_dict_is_refused_and_changes_nothing(
        tmp_path: Path, target: str) -> None:
    _assert_genuine_loads(tmp_path)
    path = _zip(tmp_path / "evil.pth", _state({}, before=BUILDS[target]), {"9": bytes(4)})
    with pytest.raises(UnsafePickleError, match=r"evil.pth' is not a PyTorch state dict: "
                       r"refused to set the state of .* \(pickle BUILD\)") as info:
        read_torch_state_dict(path)
    assert isinstance(info.value, pickle.UnpicklingError)
    _assert_genuine_loads(tmp_path)  # the attempt left the reader as it was


@pytest.mark.parametrize(("size", "stride"), [
    ((1000, 1000), (0, 0)),  # 1 stored float as a 4 MB array (1e5 x 1e5: 40 GB)
    ((3, 1000), (1, 0)),
    ((2, 2), (1, 1)),  # overlapping: element 1 twice, and fits a 4-element storage
    ((2, 2), (-1, 1)),  # refused before too, but as a bare UnpicklingError
])
def test_layouts_that_read_an_element_twice_are_refused(
        tmp_path: Path, size: tuple[int, int], stride: tuple[int, int]) -> None:
    pickled = _state({"w": _tensor("0", 4, size, stride, legacy=False)})
    path = _zip(tmp_path / "amp.pth", pickled, {"0": np.ones(4, "<f4").tobytes()})
    with pytest.raises(ValueError, match=r"amp.pth' is not a PyTorch state dict: a tensor of "
                       rf"shape \({size[0]}, {size[1]}\) and strides .*(more than once|negative)"):
        read_torch_state_dict(path)


@pytest.mark.parametrize(("nbytes", "word"), [(4 << 20, "holds 4194304 bytes"),
                                              (12, "holds 12 bytes")])
def test_a_zip_storage_of_another_size_than_declared_is_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nbytes: int, word: str) -> None:
    """4 floats declared: 4 MB of zeros (a few kB deflated) is refused before it is
    decompressed; 12 bytes (3 floats) is refused too."""
    pickled = _state({"w": _tensor("0", 4, (4,), (1,), legacy=False)})
    path = _zip(tmp_path / "bomb.pth", pickled, {"0": bytes(nbytes)})
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: (
        opened.append(getattr(name, "filename", name)), real_open(self, name, *a, **k))[1])
    with pytest.raises(ValueError, match=rf"bomb.pth' is not a PyTorch state dict: the storage "
                       rf"'archive/data/0' {word} where the pickle declares 4 x float32"):
        read_torch_state_dict(path)
    assert opened == ["archive/data.pkl"]


def _damaged(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.pth"
    if case == "zip-without-its-storage":
        return _zip(path, _state({"w": _tensor("0", 4, (4,), (1,), legacy=False)}), {})
    if case == "zip-with-a-garbage-pickle":
        return _zip(path, b"garbage", {})
    if case == "legacy-with-an-unlisted-storage":
        return _legacy(path, _state({"w": _tensor("0", 4, (4,), (1,), legacy=True)}),
                       {"0": bytes(16)}, keys=[])
    assert case == "legacy-truncated-in-its-pickle"
    data = _genuine(tmp_path, legacy=True).read_bytes()
    path.write_bytes(data[: data.index(b"bn.bias")])
    return path


@pytest.mark.parametrize(("case", "reason"), [
    ("zip-without-its-storage", "a tensor needs the storage 'archive/data/0', which the "
                                "archive does not hold"),
    ("zip-with-a-garbage-pickle", "its pickle ends within a line: it is truncated, or "
                                  "not a pickle"),
    ("legacy-with-an-unlisted-storage", "the tensor 'w' needs the storage '0', which the "
                                        "file does not hold"),
    ("legacy-truncated-in-its-pickle", "expected a pickled dict of tensors"),
])
def test_a_damaged_file_is_a_value_error_naming_it(tmp_path: Path, case: str,
                                                   reason: str) -> None:
    path = _damaged(tmp_path, case)
    with pytest.raises(ValueError) as info:
        read_torch_state_dict(path)
    assert type(info.value) is ValueError
    assert str(info.value).startswith(f"{str(path)!r} is not a PyTorch state dict: {reason}")


def test_random_bytes_and_every_truncation_are_value_errors(tmp_path: Path) -> None:
    """Random 40-byte files made the C unpickler raise MemoryError and OverflowError."""
    rng = np.random.default_rng(0)
    contents = [rng.integers(0, 256, 40, dtype=np.uint8).tobytes() for _ in range(300)]
    for legacy in (False, True):
        whole = _genuine(tmp_path, legacy).read_bytes()
        contents += [whole[:n] for n in range(len(whole))]
    for i, data in enumerate(contents):
        path = tmp_path / f"{i}.pth"  # a new file each (rewriting one is slower here)
        path.write_bytes(data)
        with pytest.raises(ValueError) as info:
            read_torch_state_dict(path)
        assert type(info.value) is ValueError, data
        assert str(info.value).startswith(f"{str(path)!r} is not a PyTorch "), data

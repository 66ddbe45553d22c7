"""Tests for tlkit.finetune: freeze/unfreeze by blocks and the GradualUnfreeze callback."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from _helpers import Interrupt, calibrate_batch_norm

from tlkit import (
    ClassifierHead,
    GradualUnfreeze,
    ShiftedSchedule,
    backbone_blocks,
    build_backbone,
    build_classifier,
    freeze,
    unfreeze,
)

SHAPE = (32, 32, 3)


def _data(n: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, *SHAPE)).astype("float32"), rng.integers(0, 3, n)


def _model(lr: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
           seed: int = 0) -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(seed)
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    calibrate_batch_norm(backbone, _data(16, seed=99)[0])
    model = build_classifier(backbone, ClassifierHead(3, hidden_units=(), dropout=0.0, name="head"))
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    return backbone, model


class Snapshots(keras.callbacks.Callback):
    """Copies of every backbone variable at train begin and after each epoch."""

    def __init__(self, backbone: keras.Model) -> None:
        super().__init__()
        self.backbone = backbone
        self.states: list[dict[str, np.ndarray]] = []

    def _take(self) -> None:
        self.states.append({w.path: keras.ops.convert_to_numpy(w) for w in self.backbone.weights})

    def on_train_begin(self, logs=None) -> None:  # noqa: ANN001
        self.states = []
        self._take()

    def on_epoch_end(self, epoch, logs=None) -> None:  # noqa: ANN001
        self._take()


def _changed(a: dict[str, np.ndarray], b: dict[str, np.ndarray], paths: list[str]) -> list[str]:
    return [p for p in paths if not np.array_equal(a[p], b[p])]


def _block_paths(backbone: keras.Model) -> list[list[str]]:
    return [[w.path for layer in layers for w in layer.weights]
            for _, layers in backbone_blocks(backbone)]


def _kernels(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith("kernel")]


def _bn_stats(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(("moving_mean", "moving_variance"))]


def test_top_block_moves_only_after_its_epoch_and_nothing_else_does() -> None:
    backbone, model = _model()
    snaps = Snapshots(backbone)
    unfreezer = GradualUnfreeze(backbone, {1: 1}, verbose=0)
    head_before = [keras.ops.convert_to_numpy(w) for w in model.layers[-1].weights]
    x, y = _data()
    model.fit(x, y, epochs=3, batch_size=4, callbacks=[unfreezer, snaps], verbose=0)

    blocks = _block_paths(backbone)
    top, below = blocks[-1], [p for block in blocks[:-1] for p in block]
    start, after0, after1, after2 = snaps.states
    assert _kernels(top)  # the top block has a kernel to watch
    assert _changed(start, after0, top) == []  # epoch 0: frozen
    assert _changed(after0, after1, _kernels(top)) == _kernels(top)  # epoch 1: it moves
    assert _changed(after1, after2, _kernels(top)) == _kernels(top)
    assert _changed(start, after2, below) == []  # blocks below never change
    all_paths = [p for block in blocks for p in block]
    assert _changed(start, after2, _bn_stats(all_paths)) == []  # batch norm in inference mode
    # The head trained from the first epoch.
    assert any(not np.array_equal(a, keras.ops.convert_to_numpy(b))
               for a, b in zip(head_before, model.layers[-1].weights))
    assert [(e["epoch"], e["top_blocks"], e["blocks"]) for e in unfreezer.events] == [
        (0, 0, []), (1, 1, ["top"])]
    assert unfreezer.events[1]["trainable_params"] == 320 * 1280


def test_all_blocks_move_after_the_scheduled_epoch() -> None:
    backbone, model = _model()
    snaps = Snapshots(backbone)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0,
              callbacks=[GradualUnfreeze(backbone, {1: "all"}, verbose=0), snaps])
    paths = [p for block in _block_paths(backbone) for p in block]
    start, after0, after1 = snaps.states
    assert _changed(start, after0, paths) == []
    kernels = _kernels(paths)
    assert len(kernels) == 52
    assert _changed(after0, after1, kernels) == kernels
    assert _changed(start, after1, _bn_stats(paths)) == []
    gammas = [p for p in paths if p.endswith("gamma")]
    assert gammas and _changed(start, after1, gammas) == []


def test_train_bn_lets_batch_norm_statistics_move() -> None:
    backbone, model = _model()
    snaps = Snapshots(backbone)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0,
              callbacks=[GradualUnfreeze(backbone, {0: 2}, train_bn=True, verbose=0), snaps])
    top_two = [p for block in _block_paths(backbone)[-2:] for p in block]
    assert _changed(snaps.states[0], snaps.states[1], _bn_stats(top_two)) == _bn_stats(top_two)


def test_learning_rate_is_scaled_per_unfreeze_step_and_printed(capsys) -> None:  # noqa: ANN001
    backbone, model = _model(lr=1e-2)
    unfreezer = GradualUnfreeze(backbone, {0: 0, 1: 2, 2: 2, 3: "all"}, lr_scale=0.5)
    x, y = _data()
    model.fit(x, y, epochs=4, batch_size=4, callbacks=[unfreezer], verbose=0)
    rates = [round(e["learning_rate"], 8) for e in unfreezer.events]
    assert [e["epoch"] for e in unfreezer.events] == [0, 1, 3]  # epoch 2 changes nothing
    assert rates == [0.01, 0.005, 0.0025]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0025)
    out = capsys.readouterr().out
    assert "epoch 1: 2/19 top blocks trainable (block_16, top)" in out
    assert "learning rate 0.0025" in out


def test_state_resets_across_fit_calls() -> None:
    backbone, model = _model()
    unfreezer = GradualUnfreeze(backbone, {1: 3}, verbose=0)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=4, callbacks=[unfreezer], verbose=0)
    first = [(e["epoch"], e["top_blocks"]) for e in unfreezer.events]
    assert len(backbone.trainable_weights) > 0
    snaps = Snapshots(backbone)
    model.fit(x, y, epochs=1, batch_size=4, callbacks=[unfreezer, snaps], verbose=0)
    # The second fit starts again at epoch 0 of the schedule: frozen, nothing moves.
    assert [(e["epoch"], e["top_blocks"]) for e in unfreezer.events] == [(0, 0)]
    assert first == [(0, 0), (1, 3)]
    assert backbone.trainable_weights == []
    paths = list(snaps.states[0])
    assert _changed(snaps.states[0], snaps.states[1], paths) == []


def _trainable_state(model: keras.Model) -> tuple[list[str], float]:
    return sorted(w.path for w in model.trainable_weights), float(model.optimizer.learning_rate)


def test_resumed_run_ends_in_the_same_trainable_state(tmp_path: Path) -> None:
    schedule = {1: 1, 2: 4, 3: "all"}
    x, y = _data()

    backbone, model = _model()
    model.fit(x, y, epochs=4, batch_size=4, verbose=0,
              callbacks=[GradualUnfreeze(backbone, schedule, lr_scale=0.1, verbose=0)])
    expected = _trainable_state(model)

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    backbone, model = _model()
    with pytest.raises(RuntimeError, match="simulated"):
        model.fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[
            GradualUnfreeze(backbone, schedule, lr_scale=0.1, verbose=0), backup, Interrupt(2)])

    # A new process would rebuild and recompile the model: do the same.
    backbone, model = _model(seed=1)
    unfreezer = GradualUnfreeze(backbone, schedule, lr_scale=0.1, verbose=0)
    history = model.fit(x, y, epochs=4, batch_size=4, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")), unfreezer])
    assert len(history.history["loss"]) == 2  # resumed at epoch 2
    assert unfreezer.events[0]["epoch"] == 2
    got = _trainable_state(model)
    assert got[0] == expected[0]
    assert got[1] == pytest.approx(expected[1])
    assert expected[1] == pytest.approx(1e-6)  # three unfreeze steps at 0.1


def test_learning_rate_schedule_continues_after_unfreezing(tmp_path: Path) -> None:
    decay = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=2, decay_rate=0.5)
    backbone, model = _model(lr=decay)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=4, verbose=0,
              callbacks=[GradualUnfreeze(backbone, {1: 1}, verbose=0)])
    # 2 steps in epoch 0 on the old optimizer, 2 on the new one: 4 steps of decay.
    assert isinstance(model.optimizer._learning_rate, ShiftedSchedule)
    assert int(model.optimizer.iterations) == 2
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2 * 0.5 ** 2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert float(loaded.optimizer.learning_rate) == pytest.approx(1e-2 * 0.5 ** 2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_shifted_schedule_round_trip() -> None:
    base = keras.optimizers.schedules.CosineDecay(1.0, decay_steps=100)
    shifted = ShiftedSchedule(base, offset=50, scale=0.5)
    clone = ShiftedSchedule.from_config(shifted.get_config())
    assert float(clone(0)) == pytest.approx(float(shifted(0)))
    assert float(shifted(0)) == pytest.approx(0.5 * float(base(50)))


def test_unfreeze_and_freeze_follow_blocks() -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    blocks = backbone_blocks(backbone)
    unfreeze(backbone, 2)
    trainable = {layer.name for _, layers in blocks for layer in layers if layer.trainable
                 and layer.weights}
    expected = {layer.name for _, layers in blocks[-2:] for layer in layers
                if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)}
    assert trainable == expected
    total = unfreeze(backbone, "all", train_bn=True)
    assert total == sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)
    assert len(backbone.trainable_weights) == len(
        [w for w in backbone.weights if "moving" not in w.path])
    freeze(backbone)
    assert backbone.trainable_weights == []


@pytest.mark.parametrize(
    ("schedule", "error", "match"),
    [
        ({-1: 2}, ValueError, "schedule epoch \\(key\\) must be an int >= 0. Received: schedule epoch \\(key\\)=-1"),
        ({1: 20}, ValueError, "has 19 blocks"),
        ({1: "most"}, TypeError, "must be an int or 'all'"),
        ({"1": 2}, TypeError, "schedule epoch \\(key\\) must be an int"),
        ([(1, 2)], TypeError, "schedule must be a mapping"),
        ({}, ValueError, "schedule must be a non-empty mapping"),
    ],
)
def test_gradual_unfreeze_bad_schedules(schedule: object, error: type, match: str) -> None:
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    with pytest.raises(error, match=match):
        GradualUnfreeze(backbone, schedule)  # type: ignore[arg-type]


def test_bad_backbones_and_arguments() -> None:
    foreign = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="contains no registered backbone"):
        GradualUnfreeze(foreign, {1: 1})
    with pytest.raises(ValueError, match="contains no registered backbone"):
        unfreeze(foreign, 1)
    backbone = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    with pytest.raises(ValueError, match=r"lr_scale must be a number in \(0, inf\)"):
        GradualUnfreeze(backbone, {1: 1}, lr_scale=0)
    with pytest.raises(ValueError, match=r"top_blocks must be in \[0, 19\] or \'all\'.*has 19 blocks"):
        unfreeze(backbone, 25)


def test_backbone_must_be_part_of_the_trained_model() -> None:
    _, model = _model()
    other = build_backbone("mobilenet_v2", image_size=SHAPE[:2], weights=None)
    x, y = _data()
    with pytest.raises(ValueError, match="is not part of the model"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[GradualUnfreeze(other, {0: 1})])


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_gradual_unfreeze_under_mixed_precision(policy: str) -> None:
    """The LossScaleOptimizer path (float16) and the plain one (bfloat16): newly unfrozen
    kernels move, frozen ones and their batch-norm statistics do not, the loss scale is kept."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        backbone = build_backbone("tiny_test_net", image_size=16, weights=None)
        model = build_classifier(backbone, ClassifierHead(2, hidden_units=()))
        model.compile(optimizer=keras.optimizers.Adam(1e-2),
                      loss="sparse_categorical_crossentropy")
        base = backbone.get_layer("tiny_test_net")
        watched = {name: base.get_layer(name) for name in ("stem_conv", "block1_bn", "block2_conv")}
        seen: dict[str, object] = {}

        class Watch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if epoch == 0:
                    seen["weights"] = {n: [np.array(w) for w in layer.get_weights()]
                                       for n, layer in watched.items()}
                    if policy == "mixed_float16":  # as if overflows had halved it 5 times
                        self.model.optimizer.dynamic_scale.assign(1024.0)
                    seen["scale"] = _loss_scale(self.model.optimizer)

            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                if epoch == 1:  # after GradualUnfreeze replaced the optimizer
                    seen["optimizer"] = self.model.optimizer
                    seen["scale_after"] = _loss_scale(self.model.optimizer)

        rng = np.random.default_rng(0)
        x = rng.uniform(0, 255, (16, 16, 16, 3)).astype("float32")
        y = rng.integers(0, 2, 16)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0,
                  callbacks=[GradualUnfreeze(backbone, {0: 0, 1: 1}, verbose=0), Watch()])
        after = {n: [np.array(w) for w in layer.get_weights()] for n, layer in watched.items()}
        assert not np.allclose(after["block2_conv"][0], seen["weights"]["block2_conv"][0])
        for frozen in ("stem_conv", "block1_bn"):  # frozen kernel; frozen BN statistics
            for got, want in zip(after[frozen], seen["weights"][frozen]):
                np.testing.assert_array_equal(got, want)
        is_scaled = isinstance(seen["optimizer"], keras.optimizers.LossScaleOptimizer)
        assert is_scaled == (policy == "mixed_float16")
        assert seen["scale_after"] == seen["scale"]
        assert seen["scale"] == (1024.0 if policy == "mixed_float16" else None)
    finally:
        keras.config.set_dtype_policy(previous)


def _loss_scale(optimizer: keras.optimizers.Optimizer) -> float | None:
    scale = getattr(optimizer, "dynamic_scale", None)
    return None if scale is None else float(scale)


def _cosine_model(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """The fine-tuning set-up of tlkit.train: Adam on a cosine schedule over 3 epochs of 2 steps."""
    return _model(lr=keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=6), seed=seed)


@pytest.mark.parametrize(("schedule", "epochs", "stop"), [
    ({0: 6}, 2, 1),  # tlkit.train's default: every scheduled block trains from epoch 0
    ({0: 1, 1: 3}, 3, 2),  # resumed inside a stage that began on an earlier epoch
])
def test_a_resumed_fit_ends_with_the_weights_of_an_uninterrupted_one(
        tmp_path: Path, schedule: dict[int, int], epochs: int, stop: int) -> None:
    """Adam's moments and the step count of the cosine schedule survive BackupAndRestore."""
    x, y = _data()
    backbone, model = _cosine_model()
    model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0,
              callbacks=[GradualUnfreeze(backbone, schedule, verbose=0)])
    expected = model.get_weights()

    backup = str(tmp_path / "backup")
    backbone, model = _cosine_model()
    with pytest.raises(RuntimeError, match="simulated"):
        model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(backup),
            GradualUnfreeze(backbone, schedule, verbose=0), Interrupt(stop)])
    backbone, model = _cosine_model(seed=1)  # as a new process would: other initial weights
    history = model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(backup), GradualUnfreeze(backbone, schedule, verbose=0)])
    assert len(history.history["loss"]) == epochs - stop
    assert int(model.optimizer.iterations) == 2 * (epochs - max(schedule))
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)

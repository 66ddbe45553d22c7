"""Freezing and unfreezing a backbone by blocks, and a callback that does it during ``fit()``.

Two facts about Keras 3 shape this module:

* A batch-norm layer runs in inference mode only while the layer itself is
  non-trainable; ``training=False`` given when the model was built does not survive
  ``fit()`` once the layer is trainable (keras-team/keras#20285). So batch-norm
  layers stay frozen unless ``train_bn=True``.
* Flipping ``layer.trainable`` changes nothing in a running ``fit()``: the compiled
  train function has captured the old list of trainable variables, and the
  optimizer only accepts the variables it was built with. :class:`GradualUnfreeze`
  therefore builds the optimizer once, before training, for every variable its
  schedule will train (a replaced optimizer would lose its state on resume:
  ``BackupAndRestore`` skips a backup of another shape), and re-traces the train
  function when the flags change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from tlkit._checks import (
    check_bool,
    check_int,
    check_number,
    is_int,
    type_error,
    value_error,
)
from tlkit.backbones.build import _find_base, backbone_blocks
from tlkit.schedules import (
    inner_and_rate,
    learning_rate_value,
    optimizer_for,
    restart_optimizer,
    set_learning_rate,
    starting_point,
)

__all__ = ["GradualUnfreeze", "freeze", "unfreeze"]

ALL = "all"


def _count_params(weights: list[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _resolve_blocks(argument: str, value: Any, num_blocks: int, backbone_name: str) -> int:
    if value == ALL:
        return num_blocks
    if not is_int(value):
        raise type_error(argument, value, "an int or 'all'")
    value = int(value)
    if not 0 <= value <= num_blocks:
        raise value_error(argument, value, f"in [0, {num_blocks}] or 'all' (backbone "
                                           f"{backbone_name!r} has {num_blocks} blocks)")
    return value


def _set_trainable(layer: keras.layers.Layer, value: bool) -> None:
    """Set ``layer.trainable`` and propagate it to every nested layer.

    On the TensorFlow backend, assigning the value an attribute already has is
    skipped by TensorFlow's attribute tracking, so ``model.trainable = True`` on a
    model whose flag is already true does not reach its frozen sub-layers. Flipping
    the flag first makes the assignment (and its propagation) happen.
    """
    if layer.trainable == value:
        layer.trainable = not value
    layer.trainable = value


def _nested_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """``layer`` and the layers of every model inside it, parents before children."""
    return [layer, *(n for child in getattr(layer, "layers", ()) for n in _nested_layers(child))]


def freeze(backbone: keras.Model) -> None:
    """Make every layer of ``backbone`` non-trainable (batch norm in inference mode).

    Args:
        backbone: A model from :func:`tlkit.build_backbone`.

    Raises:
        TypeError: ``backbone`` is not a Keras model.
        ValueError: ``backbone`` holds no registered network.

    Example:
        >>> from tlkit import build_backbone
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None,
        ...                           trainable=True)
        >>> freeze(backbone)
        >>> len(backbone.trainable_weights)
        0
    """
    _find_base(backbone)
    _set_trainable(backbone, False)


def unfreeze(
    backbone: keras.Model,
    top_blocks: int | str = ALL,
    *,
    train_bn: bool = False,
) -> int:
    """Make the top ``top_blocks`` blocks of ``backbone`` trainable and freeze the rest.

    Blocks come from :func:`tlkit.backbone_blocks` (for MobileNetV2: the stem, 17
    inverted-residual blocks and the final 1x1 conv, 19 in all). Batch-norm layers
    stay frozen, and so in inference mode, unless ``train_bn=True``.

    Args:
        backbone: A model from :func:`tlkit.build_backbone`.
        top_blocks: How many blocks, counted from the output, become trainable;
            ``0`` freezes everything, ``"all"`` unfreezes every block.
        train_bn: Also make the batch-norm layers of those blocks trainable.

    Returns:
        The number of trainable parameters in ``backbone`` afterwards.

    Raises:
        TypeError: ``backbone`` is not a Keras model or ``top_blocks`` is not an
            int or ``"all"``.
        ValueError: ``backbone`` holds no registered network, or ``top_blocks`` is
            larger than its number of blocks (the message says how many it has).

    Example:
        >>> from tlkit import build_backbone
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> unfreeze(backbone, 1)  # the final 1x1 conv (its batch norm stays frozen)
        409600
        >>> unfreeze(backbone, 0)
        0
    """
    spec, base = _find_base(backbone)
    blocks = backbone_blocks(backbone)
    count = _resolve_blocks("top_blocks", top_blocks, len(blocks), spec.name)
    if count == 0:
        _set_trainable(backbone, False)
        return 0
    _set_trainable(backbone, True)  # every nested layer trainable ...
    for index, (_, layers) in enumerate(blocks):
        in_top = index >= len(blocks) - count
        for layer in layers:  # ... then freeze what must stay frozen
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = in_top and train_bn
            else:
                layer.trainable = in_top
    return _count_params(backbone.trainable_weights)


class GradualUnfreeze(keras.callbacks.Callback):
    """Unfreeze the top blocks of a backbone at given epochs, inside one ``fit()`` call.

    ``schedule`` maps a 0-based epoch to the number of top blocks that are trainable
    from that epoch on (or ``"all"``); before its first epoch the backbone is frozen.
    For example ``{0: 0, 3: 2, 5: 6, 8: "all"}`` trains only the head for three
    epochs, then also the top 2 blocks, then 6, then the whole backbone.

    How it works: in :meth:`set_model` the model's optimizer is built for every
    variable the schedule will ever train (Keras optimizers only update the variables
    they were built with; one built for others is replaced by one of the same kind
    and settings). It is never replaced during ``fit()``, so
    :class:`keras.callbacks.BackupAndRestore` restores its whole state. At an epoch
    where the schedule changes, the callback sets the blocks' ``trainable`` flags
    (batch norm stays frozen unless ``train_bn``) and has Keras re-trace the train
    function. At each step that unfreezes more blocks the optimizer's state starts
    afresh (empty moments, step count 0, as recompiling would), so Adam's bias
    correction is right for the new variables; a learning-rate schedule continues
    where it was (:class:`ShiftedSchedule`).

    Learning rate: Keras optimizers have one rate for all variables, so unlike
    fastai's discriminative rates or Lightning's ``BackboneFinetuning`` (which gives
    the backbone a separate, smaller rate), ``lr_scale`` multiplies the model's rate
    at each schedule step that unfreezes more blocks (``0.1`` = the usual "fine-tune
    at a tenth of the rate"). The rate is a function of the epoch alone, so a run
    resumed with :class:`keras.callbacks.BackupAndRestore` ends with the weights of an
    uninterrupted one (with a schedule, when ``fit()`` knows its steps per epoch).

    State resets in ``on_train_begin``: one instance can serve several ``fit()``
    calls, the schedule counting from each call's first epoch, with rates relative
    to the optimizer's rate when that call starts. ``events`` lists what happened.

    Args:
        backbone: The model from :func:`tlkit.build_backbone` inside the trained model.
        schedule: ``{epoch: top_blocks}`` with epochs >= 0 and block counts in
            ``[0, number of blocks]`` or ``"all"``.
        train_bn: Let the batch-norm layers of unfrozen blocks train.
        lr_scale: Factor applied to the learning rate at every schedule step that
            unfreezes more blocks; ``1.0`` keeps the rate.
        verbose: Print a line for each change.

    Attributes:
        events: One dict per change in the last ``fit()``: ``epoch``, ``top_blocks``,
            ``blocks`` (their names), ``trainable_params`` (in the backbone) and
            ``learning_rate`` (``None`` for a schedule).

    Raises:
        TypeError: ``schedule`` is not a mapping, or a key or value has a wrong type.
        ValueError: A negative epoch, a block count above what the backbone has (the
            message says how many), a backbone that is not from the registry, or
            ``lr_scale`` <= 0.

    Example:
        >>> import numpy as np
        >>> from tlkit import ClassifierHead, build_backbone, build_classifier
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> model = build_classifier(backbone, ClassifierHead(2, hidden_units=()))
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> unfreezer = GradualUnfreeze(backbone, {1: 2}, lr_scale=0.1, verbose=0)
        >>> x, y = np.zeros((4, 32, 32, 3)), np.array([0, 1, 0, 1])
        >>> _ = model.fit(x, y, epochs=2, callbacks=[unfreezer], verbose=0)
        >>> [(e["epoch"], e["top_blocks"]) for e in unfreezer.events]
        [(0, 0), (1, 2)]
        >>> round(unfreezer.events[-1]["learning_rate"], 6)
        0.0001
    """

    def __init__(
        self,
        backbone: keras.Model,
        schedule: Mapping[int, int | str],
        *,
        train_bn: bool = False,
        lr_scale: float = 1.0,
        verbose: int = 1,
    ) -> None:
        super().__init__()
        spec, _ = _find_base(backbone)
        if not isinstance(schedule, Mapping):
            raise type_error("schedule", schedule, "a mapping {epoch: top_blocks}")
        if not schedule:
            raise value_error("schedule", schedule, "a non-empty mapping, e.g. {0: 0, 3: 2, 6: 'all'}")
        num_blocks = len(backbone_blocks(backbone))
        entries = []
        for epoch, blocks in schedule.items():
            epoch = check_int("schedule epoch (key)", epoch, minimum=0)
            count = _resolve_blocks(f"schedule[{epoch}]", blocks, num_blocks, spec.name)
            entries.append((int(epoch), count))
        lr_scale = check_number("lr_scale", lr_scale, low=0.0, low_inclusive=False)
        check_bool("train_bn", train_bn)
        verbose = check_int("verbose", verbose, minimum=0)
        self.backbone = backbone
        self.schedule = dict(schedule)
        self.train_bn = bool(train_bn)
        self.lr_scale = float(lr_scale)
        self.verbose = int(verbose)
        self.num_blocks = num_blocks
        self._entries = sorted(entries)
        self._block_names = [name for name, _ in backbone_blocks(backbone)]
        self.events: list[dict[str, Any]] = []
        self._current: int | None = None
        self._steps_applied = 0
        self._variables: list[Any] = []  # the optimizer's, from set_model()
        self._base_rate: Any = None  # the rate (a float or a schedule) at the start of fit()
        self._start_step = self._offset = 0  # its step count then; the stage's schedule offset

    def target(self, epoch: int) -> tuple[int, int]:
        """Return ``(top_blocks, unfreeze_steps)`` the schedule asks for at ``epoch``.

        ``unfreeze_steps`` counts the schedule entries up to ``epoch`` that unfreeze
        more blocks than the entry before; the rate is ``lr_scale ** unfreeze_steps``
        times the rate at the start of ``fit()``.

        Args:
            epoch: A 0-based epoch of the ``fit()`` call.

        Example:
            >>> from tlkit import build_backbone
            >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
            >>> cb = GradualUnfreeze(backbone, {2: 1, 4: "all"}, verbose=0)
            >>> [cb.target(e) for e in range(5)]
            [(0, 0), (0, 0), (1, 1), (1, 1), (19, 2)]
        """
        blocks, steps, previous = 0, 0, 0
        for start, count in self._entries:
            if start > epoch:
                break
            if count > previous:
                steps += 1
            blocks, previous = count, count
        return blocks, steps

    def _stage_start(self, epoch: int) -> int | None:
        """The epoch of the last unfreeze step up to ``epoch`` (``None``: none yet)."""
        steps = self.target(epoch)[1]
        if steps == 0:
            return None
        return min(start for start, _ in self._entries if self.target(start)[1] == steps)

    def _part_of_model(self) -> bool:
        model_weights = {id(w) for w in self.model.weights}
        return all(id(w) in model_weights for w in self.backbone.weights)

    def _scheduled_variables(self) -> list[Any]:
        """The model's trainable variables with the most blocks the schedule unfreezes
        (read with those flags set; every flag is set back)."""
        layers = _nested_layers(self.backbone)
        flags = [layer.trainable for layer in layers]
        most = max(count for _, count in self._entries)
        try:
            unfreeze(self.backbone, most, train_bn=self.train_bn)
            return list(self.model.trainable_variables)
        finally:
            for layer, flag in zip(layers, flags):
                _set_trainable(layer, flag)

    def set_model(self, model: keras.Model) -> None:
        """Attach ``model`` and build its optimizer for every variable the schedule trains.

        ``fit()`` calls this before any callback's ``on_train_begin``, where
        :class:`keras.callbacks.BackupAndRestore` loads its backup into the optimizer.

        Args:
            model: The model being trained (it must contain ``backbone``).
        """
        super().set_model(model)
        if getattr(model, "optimizer", None) is None or not self._part_of_model():
            return  # on_train_begin says what is wrong
        # The step count and rate as this fit() starts, before a backup is loaded.
        self._start_step, self._base_rate = starting_point(model.optimizer)
        self._variables = self._scheduled_variables()
        optimizer_for(model, self._variables)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if getattr(self.model, "optimizer", None) is None:
            raise ValueError("GradualUnfreeze needs a compiled model (call model.compile first).")
        if not self._part_of_model():
            raise ValueError(f"GradualUnfreeze: backbone {self.backbone.name!r} is not part of "
                             f"the model being trained ({self.model.name!r}).")
        self.events = []
        self._current = None
        self._steps_applied = 0
        self._offset = 0

    def _set_rate(self, epoch: int, steps: int, restart: bool) -> None:
        """``lr_scale ** steps`` times the fit's first rate; a schedule read on from its stage."""
        stage = self._stage_start(epoch)
        per_epoch = (self.params or {}).get("steps")
        if stage is None:
            self._offset = 0
        elif per_epoch:  # a function of the epoch: the same in a resumed run
            self._offset = self._start_step + stage * per_epoch
        elif restart:  # steps per epoch unknown: where the schedule stands now
            inner, _ = inner_and_rate(self.model.optimizer)
            self._offset += int(keras.ops.convert_to_numpy(inner.iterations))
        set_learning_rate(self.model.optimizer, self._base_rate, self.lr_scale ** steps,
                          None if stage is None else self._offset)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        blocks, steps = self.target(epoch)
        if blocks == self._current and steps == self._steps_applied:
            return
        model = self.model
        trainable_params = unfreeze(self.backbone, blocks, train_bn=self.train_bn)
        # An unfreeze step starts the optimizer afresh; resumed mid-stage, it keeps its backup.
        restart = steps > self.target(epoch - 1)[1]
        self._set_rate(epoch, steps, restart)
        if restart:
            restart_optimizer(model, self._variables)
        # New trainable variables, or a new rate schedule: trace the train step again.
        model.make_train_function(force=True)
        self._current, self._steps_applied = blocks, steps
        rate = learning_rate_value(model.optimizer)
        names = self._block_names[len(self._block_names) - blocks:] if blocks else []
        self.events.append({"epoch": int(epoch), "top_blocks": blocks, "blocks": names,
                            "trainable_params": trainable_params, "learning_rate": rate})
        if self.verbose:
            shown = ", ".join(names) if len(names) <= 4 else f"{names[0]} ... {names[-1]}"
            rate_text = f"{rate:.3g}" if rate is not None else "schedule"
            print(
                f"GradualUnfreeze: epoch {epoch}: {blocks}/{self.num_blocks} top blocks "
                f"trainable{f' ({shown})' if names else ''}, {trainable_params:,} trainable "
                f"backbone parameters, learning rate {rate_text}"
            )

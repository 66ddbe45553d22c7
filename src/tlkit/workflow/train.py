"""train(): a folder of images to a fine-tuned, evaluated classifier, from tlkit's own parts.

The recipe is the flagship's, measured on Caltech-101: stratified split, class weights,
a frozen phase on cached backbone features, GradualUnfreeze fine-tuning on a cosine
schedule, WiSE-FT weight interpolation, one temperature fitted on the validation split
(calibrated probabilities), and validation and test reports with flip test-time
augmentation. Each step is one public tlkit call, so any of them can be taken
apart and changed.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tlkit._checks import check_int, check_number, type_error
from tlkit._environment import allocator_in_use, peak_memory_mb
from tlkit.backbones import backbone_blocks, build_backbone, get_backbone_spec
from tlkit.calibration import (
    Calibration,
    calibrate,
    expected_calibration_error,
    model_views,
    tempered_mean,
)
from tlkit.class_weights import compute_class_weights
from tlkit.data import Split
from tlkit.evaluation import EvaluationReport
from tlkit.features import _at_feature_size, _classification_loss, extract_features, fit_head
from tlkit.finetune import GradualUnfreeze
from tlkit.heads import ClassifierHead, any_size, build_classifier
from tlkit.interpolation import WeightInterpolation
from tlkit.seeding import EpochSeeds
from tlkit.workflow.data import images_of, in_memory_parts, parts_of, shard_by_data, source_of
from tlkit.workflow.distribute import resolve_strategy, strategy_name, worker_index
from tlkit.workflow.leakage import LEAKAGE_METRIC, leakage_words, near_duplicate_leakage
from tlkit.workflow.options import TrainingOptions, sizes_checked
from tlkit.workflow.run import TrainingRun

__all__ = ["train"]


def _schedule(options: TrainingOptions, steps_per_epoch: int) -> Any:
    """Cosine decay of the fine-tuning rate over all its steps, after an optional warm-up."""
    total = max(options.finetune_epochs * steps_per_epoch, 1)  # compiled even without epochs
    warmup = int(round(options.warmup_epochs * steps_per_epoch))
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=options.finetune_lr,
            warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(options.finetune_lr, decay_steps=total)


def _fit_schedule(schedule: dict[int, int | str], base: keras.Model) -> dict[int, int | str]:
    """The unfreeze schedule for this backbone: a count above its number of blocks means
    all of them (the default "top 6" on a backbone of 3 blocks unfreezes the 3).
    ``unfreeze_events`` in the metrics records what was applied."""
    blocks = len(backbone_blocks(base))
    return {epoch: "all" if count != "all" and count >= blocks else count
            for epoch, count in schedule.items()}


def _epoch_table(history: dict[str, list[float]]) -> pd.DataFrame:
    """Keras' per-epoch history as a table. Validation ran after the last epochs only, so
    its lists are shorter: they are aligned to the end, the epochs before get NaN."""
    epochs = max((len(values) for values in history.values()), default=0)
    return pd.DataFrame({name: [np.nan] * (epochs - len(values)) + list(values)
                         for name, values in history.items()})


def _calibrate(head: ClassifierHead, predictions: dict[str, tuple[np.ndarray, np.ndarray]],
               options: TrainingOptions) -> Calibration | None:
    """Fit the temperature on the validation predictions (each view at temperature 1, as
    the run predicts them) and store it in the head; the same predictions then make the
    validation report, so the validation images are read once."""
    if not options.calibrate:
        return None
    if "validation" not in predictions:
        warnings.warn("calibrate=True, but there are no validation images to fit a "
                      "temperature on: the model keeps temperature 1 (uncalibrated). Keep a "
                      "validation split (val_fraction > 0) for calibrated probabilities.",
                      stacklevel=3)
        return None
    scores, labels = predictions["validation"]
    calibration = calibrate(None, scores, labels)
    head.set_temperature(calibration.temperature)
    return calibration


def _calibration_words(calibration: Calibration | None, options: TrainingOptions,
                       split: str) -> str:
    """The calibration line of a report's context."""
    if calibration is None:
        return "none (calibrate=False)" if not options.calibrate else \
            "none: no validation images to fit a temperature on"
    c = calibration
    words = (f"temperature {c.temperature:.3f} fitted on {c.images:,} validation images: "
             f"ECE {c.ece_before:.3f} -> {c.ece_after:.3f}, NLL {c.nll_before:.3f} -> "
             f"{c.nll_after:.3f}")
    return words + (" (on the images it was fitted on: the test split is the fair check)"
                    if split == "validation" else "")


def train(
    data: Any,
    *,
    backbone: str = "mobilenet_v2",
    weights: str | os.PathLike[str] | None = "imagenet",
    options: TrainingOptions | None = None,
    strategy: str | tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    backup_dir: str | os.PathLike[str] | None = None,
    memory_gib: float = 4.0,
    verbose: int = 1,
) -> TrainingRun:
    """Train an image classifier on your own images in one call.

    Args:
        data: A folder with one sub-folder of images per class, a pre-split folder
            (``train/<class>/``, ``val/<class>/`` (or ``valid``, ``validation``),
            ``test/<class>/``: the parts it lacks are split from ``train``), an
            :class:`tlkit.ImageFolder`/:class:`tlkit.ImageSet` (split as ``options``
            say), or your own :class:`tlkit.Split` (``train``, ``val``, ``test``; an empty
            part is skipped). Every part is matched to the training classes by name
            (a validation folder without class ``b`` still scores ``c`` as ``c``).
        backbone: A name from :func:`tlkit.list_backbones`.
        weights: ``"imagenet"``, the path of a weights file for that backbone without
            its top, or ``None`` (random: for tests).
        options: :class:`TrainingOptions` (default: the flagship's).
        strategy: A ``tf.distribute`` strategy to build and train the model under, or
            its name (``"default"``, ``"mirrored"``, ``"multiworker"``: see
            :func:`tlkit.make_strategy`); default: the current one. Under
            ``"multiworker"`` every worker runs this same call: each extracts the
            frozen-phase features of all images itself, the head and the fine-tuning
            train across the workers (each reads every batch and keeps its share: the
            ``DATA`` auto-shard policy, as the images are read from a list of paths,
            not sharded files), ``batch_size`` is the global batch, and every worker
            ends with the same model (only the chief should save it:
            :meth:`TrainingRun.save` does so).
        callbacks: More Keras callbacks for the fine-tuning ``fit()`` (after tlkit's
            own, before :class:`tlkit.WeightInterpolation`).
        backup_dir: A folder where fine-tuning backs up its state after every epoch
            (``keras.callbacks.BackupAndRestore``, one sub-folder per worker): call
            ``train`` again with the same arguments after a crash and fine-tuning
            resumes from the last finished epoch (the steps before it are repeated,
            and give the same result for the same seed).
        memory_gib: Decode every image once into memory (``uint8`` at
            ``options.image_size``) when that takes at most this many GiB and at most
            a third of the memory free; otherwise, or with ``0``, every pass decodes the files
            again. The answers are the same either way; ``metrics["image_decoding"]``
            says which it was. Caltech-101 at 224 px takes 1.2 GiB.
        verbose: ``0`` silent, ``1`` progress bars and one line per epoch, ``2`` Keras'
            per-epoch lines without bars.

    Returns:
        A :class:`TrainingRun`: model, class names, options, history, reports, metrics.

    Raises:
        ValueError: An unknown backbone (listing the registry), fewer than 2 classes, a
            training split without images, a validation or test class the training
            images lack, or a weights file for another architecture.
        FileNotFoundError: The folder or the weights file does not exist.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> rng = np.random.default_rng(0)
        >>> for name, shade in (("dark", 40), ("light", 210)):
        ...     (root / name).mkdir()
        ...     for i in range(12):
        ...         pixels = np.clip(rng.normal(shade, 20, (24, 24, 3)), 0, 255)
        ...         Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
        >>> run = train(root, weights=None, verbose=0, options=TrainingOptions(
        ...     image_size=32, head_epochs=2, finetune_epochs=1, unfreeze={0: 1}))
        >>> run.class_names, run.model.output_shape
        (['dark', 'light'], (None, 2))
    """
    options = options if options is not None else TrainingOptions()
    if not isinstance(options, TrainingOptions):
        raise type_error("options", options, "a tlkit.TrainingOptions")
    verbose = check_int("verbose", verbose, minimum=0, maximum=2)
    memory_gib = check_number("memory_gib", memory_gib, low=0.0)
    bar = min(verbose, 1)  # progress bars outside fit()
    spec = sizes_checked(get_backbone_spec(backbone), options)  # both fail before any work
    strategy = resolve_strategy(strategy)
    callbacks = list(callbacks)
    if not all(isinstance(c, keras.callbacks.Callback) for c in callbacks):
        raise type_error("callbacks", callbacks, "a sequence of keras.callbacks.Callback")
    if backup_dir is not None and not isinstance(backup_dir, (str, os.PathLike)):
        raise type_error("backup_dir", backup_dir, "None or a folder path")
    keras.utils.set_random_seed(options.seed)
    start = time.perf_counter()
    phases: dict[str, float] = {}

    # 1. Data: split, class weights, augmentation ---------------------------------------
    t = time.perf_counter()
    images = images_of(data, bar)
    presplit = isinstance(data, (str, os.PathLike)) and isinstance(images, Split)
    parts = parts_of(images, presplit=presplit, options=options)
    train_set, val_set, test_set = parts
    names = train_set.class_names
    if len(names) < 2:
        raise ValueError(f"data must have at least 2 classes to tell apart. Received: "
                         f"{len(names)} class ({names}).")
    if len(train_set) == 0:
        raise ValueError("data: the training split has no images.")
    class_weight = None
    if options.class_weights != "none":
        class_weight = compute_class_weights(train_set, method=options.class_weights,
                                             num_classes=len(names), missing="zero")
    policy = options.policy()
    # Pipelines read the in-memory copies; the run keeps `parts` (files only).
    (train_set, val_set, test_set), decoding = in_memory_parts(parts, options, memory_gib, bar)
    phases["data"] = time.perf_counter() - t

    # 2. Frozen phase on cached features --------------------------------------------------
    t = time.perf_counter()
    with strategy.scope():
        base = build_backbone(spec.name, image_size=options.image_size, weights=weights)
        head = ClassifierHead(len(names), hidden_units=options.hidden_units,
                              dropout=options.dropout)
        # Its variables are made here, in the strategy, not by fit_head outside it.
        head.build((None, base.output_shape[-1]))
    views = options.views if policy is not None else 0
    extract = dict(batch_size=64, pooling=head.pooling, resize=options.resize, verbose=bar)
    frozen = base if options.feature_size is None else \
        _at_feature_size(base, spec.name, options.feature_shape())  # read at full size
    x_train, y_train = extract_features(frozen, train_set, augmented_views=views,
                                        augment=policy, **extract)
    validation = extract_features(frozen, val_set, **extract) if len(val_set) else None
    phases["feature_extraction"] = time.perf_counter() - t
    t = time.perf_counter()  # test images with a near duplicate in train, before fine-tuning
    leaked = near_duplicate_leakage(frozen, x_train[:len(train_set)], test_set, extract)
    phases["leakage_check"] = time.perf_counter() - t
    t = time.perf_counter()
    with strategy.scope():
        head_history = fit_head(head, x_train, y_train, epochs=options.head_epochs,
                                learning_rate=options.head_lr, class_weight=class_weight,
                                validation_data=validation, seed=options.seed,
                                label_smoothing=options.label_smoothing,
                                verbose=verbose)
    phases["head_training"] = time.perf_counter() - t

    # 3. Fine-tuning through the backbone ------------------------------------------------
    t = time.perf_counter()
    size, resize = options.image_size, options.resize
    val_ds = shard_by_data(val_set.to_dataset(64, image_size=size, resize=resize)) \
        if len(val_set) else None
    with strategy.scope():
        model = build_classifier(base, head, augment=policy)
        steps = int(np.ceil(len(train_set) / options.batch_size))
        model.compile(optimizer=keras.optimizers.Adam(_schedule(options, max(steps, 1))),
                      loss=_classification_loss(
                          len(names), options.label_smoothing,
                          from_logits=head.output_activation == "linear"),
                      metrics=["accuracy"])
    unfreezer = GradualUnfreeze(base, _fit_schedule(options.unfreeze, base),
                                verbose=min(verbose, 1))
    finetune_history: dict[str, list[float]] = {}
    if options.finetune_epochs:
        backups = None if backup_dir is None else \
            os.path.join(backup_dir, f"worker-{worker_index(strategy)}")
        fit_callbacks: list[keras.callbacks.Callback] = [unfreezer, *callbacks]
        if backups is not None:  # first: it restores what the others then continue from
            fit_callbacks.insert(0, keras.callbacks.BackupAndRestore(backups))
        if options.wise_alpha < 1.0:  # last: it mixes the weights the others leave
            fit_callbacks.append(WeightInterpolation(
                options.wise_alpha, verbose=min(verbose, 1),
                backup_dir=None if backups is None else os.path.join(backups, "wise")))
        # The data order and the random layers' draws of each epoch come from (seed,
        # epoch), so a resumed run reads and augments as the uninterrupted one did.
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
        fit_callbacks.insert(0, EpochSeeds(options.seed, epoch_variable=epoch))
        train_ds = shard_by_data(train_set.to_dataset(
            options.batch_size, image_size=size, resize=resize, shuffle=True,
            seed=options.seed, epoch=epoch, epoch_sizes=options.epoch_sizes()))
        with strategy.scope():  # its metrics' variables, like the model's
            fitted = any_size(model) if options.finetune_sizes else model
        # Validation after the last epoch only: nothing in fit chooses by it, the reports
        # validate the saved (mixed) model anyway, and each pass costs about a tenth of an
        # epoch. Epochs without it get NaN in the history (_epoch_table).
        finetune_history = fitted.fit(  # train_ds shuffles itself
            train_ds, validation_data=val_ds, validation_freq=options.finetune_epochs,
            epochs=options.finetune_epochs, shuffle=False, class_weight=class_weight,
            callbacks=fit_callbacks, verbose=verbose).history
    phases["fine_tuning"] = time.perf_counter() - t

    # 4. Calibration: one temperature on the validation split, stored in the head --------
    # Each view (image, mirror) of each split predicted once at temperature 1: the
    # temperature is fitted on the validation views, and every report's calibrated and
    # uncalibrated figures come from the same predictions.
    t = time.perf_counter()
    predictions = {split_name: model_views(
        model, shard_by_data(part.to_dataset(64, image_size=size, resize=resize)), None,
        flip_tta=options.tta, batch_size=64, image_size=None, resize=resize, verbose=bar,
        desc=f"Predicting ({split_name})")
        for split_name, part in (("validation", val_set), ("test", test_set)) if len(part)}
    phases["evaluation"] = time.perf_counter() - t
    t = time.perf_counter()
    calibration = _calibrate(head, predictions, options)
    phases["calibration"] = time.perf_counter() - t

    # 5. Reports ------------------------------------------------------------------------
    t = time.perf_counter()
    reports, uncalibrated = {}, {}
    described = TrainingRun(model, names, options=options, backbone=spec.name,
                            weights=None if weights is None else str(weights))
    for split_name, part in (("validation", val_set), ("test", test_set)):
        if split_name in predictions:
            how = "the folder's own split" if presplit else "your split" \
                if isinstance(images, Split) else f"stratified split, seed {options.seed}"
            context = described.report_context(
                f"{len(part):,} images of {source_of(data)} ({how})", split=split_name)
            context["calibration"] = _calibration_words(calibration, options, split_name)
            if split_name == "test" and "validation" in reports:  # beside it on the first screen
                val = reports["validation"]
                context["validation accuracy"] = \
                    f"{100 * val.accuracy:.1f} % of {val.y_true.size:,} images"
            if split_name == "test":
                context["near duplicates in train"] = leakage_words(
                    leaked, len(part), options.feature_shape())
            view_scores, labels = predictions[split_name]
            scores = view_scores.mean(axis=0) if calibration is None else \
                tempered_mean(view_scores, calibration.temperature)
            before = view_scores.mean(axis=0) if calibration is not None else None
            reports[split_name] = EvaluationReport(labels, scores, class_names=names,
                                                   paths=part.paths, context=context,
                                                   uncalibrated=before)
            if before is not None:
                uncalibrated[split_name] = expected_calibration_error(labels, before)
    phases["evaluation"] += time.perf_counter() - t

    history = pd.concat(
        [pd.DataFrame(head_history.history).assign(phase="frozen (cached features)"),
         _epoch_table(finetune_history).assign(phase="fine-tuning")], ignore_index=True)
    history.index.name = "epoch"
    wall = time.perf_counter() - start
    metrics: dict[str, Any] = {"classes": len(names), "train_images": len(train_set),
                               "validation_images": len(val_set), "test_images": len(test_set),
                               LEAKAGE_METRIC: leaked}
    for split_name, report in reports.items():
        metrics[f"{split_name}_accuracy"] = report.accuracy
        metrics[f"{split_name}_mean_per_class_accuracy"] = report.balanced_accuracy
        metrics[f"{split_name}_top5_accuracy"] = report.top5_accuracy
        metrics[f"{split_name}_expected_calibration_error"] = \
            report.expected_calibration_error()
        if split_name in uncalibrated:
            metrics[f"{split_name}_expected_calibration_error_uncalibrated"] = \
                uncalibrated[split_name]
    metrics.update({
        "temperature": round(calibration.temperature, 4) if calibration else 1.0,
        "calibration": calibration.to_dict() if calibration else None,
        "unfreeze_events": unfreezer.events,
        "wise_alpha": options.wise_alpha,
        "wall_seconds": {**{k: round(v, 1) for k, v in phases.items()}, "total": round(wall, 1)},
        "feature_images_per_second": round(
            (len(train_set) * (1 + views) + len(val_set)) / max(phases["feature_extraction"],
                                                                1e-9), 1),
        "fine_tuning_images_per_second": round(
            len(train_set) * options.finetune_epochs / max(phases["fine_tuning"], 1e-9), 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "allocator": allocator_in_use(),
        "strategy": strategy_name(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "skipped_files": len(getattr(images, "skipped", ())),
        "image_decoding": decoding,
    })
    return TrainingRun(model, names, options=options, backbone=spec.name,
                       weights=None if weights is None else str(weights), history=history,
                       reports=reports, metrics=metrics, split=parts)

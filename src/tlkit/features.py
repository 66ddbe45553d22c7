"""A fast frozen phase: compute backbone features once, train the head on them.

While the backbone is frozen its output for an image never changes, so running it
every epoch (as ``model.fit`` on the full model does) wastes nearly all the time of
the frozen phase. :func:`extract_features` runs the backbone once per image (and
once per augmented view, to keep augmentation), :func:`fit_head` trains the head on
those features in seconds, and the same head object then goes into
:func:`tlkit.build_classifier` for fine-tuning: the features are the same function
of the pixels, so the head predicts the same either way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tlkit._checks import check_choice, check_fraction, check_int, check_number, type_error
from tlkit._predict import predict_with_labels
from tlkit.backbones.build import INPUT_NAME, POOLINGS, build_backbone
from tlkit.backbones.registry import get_backbone_spec
from tlkit.data import ImageSet

__all__ = ["extract_features", "feature_extractor", "fit_head"]


def feature_extractor(backbone: keras.Model, *, pooling: str = "avg") -> keras.Model:
    """Wrap ``backbone`` so that it returns pooled feature vectors.

    Args:
        backbone: A model from :func:`tlkit.build_backbone` (any pixels-to-features
            Keras model works).
        pooling: One of :data:`tlkit.POOLINGS`, used when the backbone returns a
            feature map; pass the ``pooling`` of the head you will train.

    Returns:
        A model from pixels to ``(batch, channels)`` features; it shares the
        backbone's layers and weights.

    Raises:
        ValueError: ``pooling`` is not one of :data:`tlkit.POOLINGS`, or the
            backbone's output is not 2-D or 4-D.

    Example:
        >>> from tlkit import build_backbone
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> feature_extractor(backbone).output_shape
        (None, 1280)
    """
    check_choice("pooling", pooling, POOLINGS)
    if not isinstance(backbone, keras.Model):
        raise type_error("backbone", backbone, "a keras.Model")
    rank = len(backbone.output_shape)
    if rank == 2:
        return backbone
    if rank != 4:
        raise ValueError(
            f"backbone output must be features (batch, c) or a feature map (batch, h, w, c), got "
            f"{backbone.output_shape}."
        )
    inputs = keras.Input(backbone.input_shape[1:], name=INPUT_NAME)
    features = backbone(inputs)
    pool = keras.layers.GlobalAveragePooling2D() if pooling == "avg" else keras.layers.GlobalMaxPooling2D()
    return keras.Model(inputs, pool(features), name=f"{backbone.name}_features")


def _at_feature_size(backbone: keras.Model, name: str,
                     image_size: tuple[int, int]) -> keras.Model:
    """``backbone`` (registry name ``name``) run at ``image_size``, behind a bilinear,
    antialiased resize (as progressive resizing shrinks a batch): a model that takes
    images at ``backbone``'s own input size. The frozen phase's features at
    ``TrainingOptions.feature_size`` come from it, read from the images at full size.

    It runs a copy built at the smaller size with ``backbone``'s weights: Keras checks a
    functional model's fixed input shape on every call, so ``backbone`` itself cannot
    be called on smaller images.
    """
    spec = get_backbone_spec(name)
    if min(image_size) < spec.min_size:
        raise ValueError(f"feature_size must give at least {spec.min_size} pixels per side "
                         f"for {spec.name!r}. Received: feature_size -> {image_size}.")
    smaller = build_backbone(spec.name, image_size=image_size, weights=None)
    smaller.set_weights(backbone.get_weights())
    inputs = keras.Input(backbone.input_shape[1:], name=INPUT_NAME)
    resized = keras.layers.Resizing(*image_size, antialias=True, name="feature_resize")(inputs)
    return keras.Model(inputs, smaller(resized), name=f"{backbone.name}_at_{image_size[0]}")


def extract_features(
    backbone: keras.Model,
    images: ImageSet | tf.data.Dataset,
    *,
    batch_size: int = 64,
    augmented_views: int = 0,
    augment: Any = None,
    pooling: str = "avg",
    resize: str = "stretch",
    verbose: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a frozen backbone once over a set of images and return pooled features.

    With ``augmented_views=k`` every image is also passed ``k`` more times through
    ``augment`` (a policy or Keras layer), so a head trained on the features still
    sees augmented images: the result holds the clean view of every image first,
    then each augmented pass in the same order.

    Args:
        backbone: A frozen backbone (pixels in ``[0, 255]`` to features).
        images: An :class:`tlkit.ImageSet` (decoded at the backbone's input size) or a
            ``tf.data.Dataset`` of ``(pixels, label)`` batches.
        batch_size: Images per batch for an ImageSet.
        augmented_views: Extra augmented passes over the images (ImageSet only).
        augment: An :class:`tlkit.AugmentationPolicy` or Keras layer, needed when
            ``augmented_views > 0``.
        pooling: One of :data:`tlkit.POOLINGS` for a backbone that returns a feature
            map (the ``pooling`` of the head you will train).
        resize: How an ImageSet is resized (see :meth:`tlkit.ImageSet.to_dataset`).
        verbose: Show a progress bar per pass.

    Returns:
        ``(features, labels)``: float32 ``(n * (1 + augmented_views), channels)``
        and int64 labels.

    Raises:
        ValueError: ``augmented_views`` < 0, views without ``augment``, augmented
            views of a ``tf.data.Dataset``, or an empty input.
        TypeError: ``images`` is neither an ImageSet nor a Dataset.

    Example:
        >>> import numpy as np, tensorflow as tf
        >>> from tlkit import build_backbone
        >>> backbone = build_backbone("mobilenet_v2", image_size=32, weights=None)
        >>> data = tf.data.Dataset.from_tensor_slices(
        ...     (np.zeros((5, 32, 32, 3), "float32"), np.arange(5))).batch(2)
        >>> features, labels = extract_features(backbone, data, verbose=0)
        >>> features.shape, labels.tolist()
        ((5, 1280), [0, 1, 2, 3, 4])
    """
    augmented_views = check_int("augmented_views", augmented_views, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    if augmented_views and augment is None:
        raise ValueError(f"augmented_views > 0 needs augment= (an AugmentationPolicy or a "
                         f"layer). Received: augmented_views={augmented_views}, augment=None.")
    extractor = feature_extractor(backbone, pooling=pooling)
    if isinstance(images, ImageSet):
        if len(images) == 0:
            raise ValueError("images is empty: there is nothing to extract.")
        size = tuple(backbone.input_shape[1:3])
        passes = []
        for view in range(1 + augmented_views):
            dataset = images.to_dataset(batch_size, image_size=size, resize=resize,
                                        augment=_view_augment(augment, view) if view else None)
            name = "clean" if view == 0 else f"augmented {view}/{augmented_views}"
            features, _ = predict_with_labels(extractor, dataset, argument="images",
                                              verbose=verbose, desc=f"Features ({name})")
            passes.append(features)
        # One pass is returned as it is: concatenating it and copying that to float32 held
        # the features three times at once (356 MB more at the peak for 80,000 images).
        features = passes[0] if len(passes) == 1 else np.concatenate(passes)
        features = features.astype(np.float32, copy=False)
        labels = np.tile(images.labels, 1 + augmented_views)
        return features, labels
    if isinstance(images, tf.data.Dataset):
        if augmented_views:
            raise ValueError("augmented_views needs an ImageSet; augment a Dataset in its own map.")
        features, labels = predict_with_labels(extractor, images, argument="images",
                                               verbose=verbose, desc="Features")
        return features.astype(np.float32), labels.astype(np.int64)
    raise type_error("images", images, "a tlkit ImageSet or a tf.data.Dataset")


def _view_augment(augment: Any, view: int) -> Any:
    """The augmentation of augmented view ``view`` (1-based).

    Each view builds its augmentation layer afresh, so a seeded policy would draw the
    same transforms for every view. A seeded policy therefore gets its own seed per view
    (view 1 keeps the policy's seed): views differ from each other and stay reproducible.
    A Keras layer is used as it is.
    """
    seed = getattr(augment, "seed", None)
    if view > 1 and seed is not None and dataclasses.is_dataclass(augment):
        # Far apart: a policy uses seed, seed + 1, ... for its transforms.
        return dataclasses.replace(augment, seed=seed + 10_007 * (view - 1))
    return augment


def fit_head(
    head: keras.layers.Layer,
    features: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    class_weight: dict[int, float] | None = None,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    label_smoothing: float = 0.0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    seed: int | None = None,
    verbose: int = 1,
) -> keras.callbacks.History:
    """Train ``head`` on cached features (the frozen phase, in seconds).

    A small model ``features -> head`` is compiled with Adam and sparse categorical
    cross-entropy (on the head's probabilities, or on its logits when the head has
    ``output_activation="linear"``) and fitted; the trained weights live
    in ``head`` itself, ready for :func:`tlkit.build_classifier`.

    Args:
        head: A :class:`tlkit.ClassifierHead` (softmax or linear output).
        features: ``(n, channels)`` features from :func:`extract_features`.
        labels: ``(n,)`` integer labels.
        epochs: Passes over the features.
        batch_size: Features per step.
        learning_rate: Adam's learning rate.
        class_weight: ``{class: weight}``, e.g. from :func:`tlkit.compute_class_weights`.
        validation_data: ``(features, labels)`` to report validation figures.
        label_smoothing: Label smoothing of the loss, in ``[0, 1)``.
        callbacks: More Keras callbacks.
        seed: Shuffle seed.
        verbose: Keras verbosity.

    Returns:
        The Keras ``History``.

    Raises:
        ValueError: ``features`` is not 2-D or differs in length from ``labels``.

    Example:
        >>> import numpy as np
        >>> import keras
        >>> from tlkit import ClassifierHead
        >>> keras.utils.set_random_seed(1)  # the head's initial weights
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(64, 8)).astype("float32"); y = (x[:, 0] > 0).astype(int)
        >>> head = ClassifierHead(2, hidden_units=(), dropout=0.0)
        >>> history = fit_head(head, x, y, epochs=20, learning_rate=0.05, seed=0, verbose=0)
        >>> history.history["accuracy"][-1] > 0.9
        True
    """
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (n, channels), got shape {features.shape}.")
    if len(features) != len(labels):
        raise ValueError(
            f"features and labels differ in length: {len(features)} and {len(labels)}."
        )
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    learning_rate = check_number("learning_rate", learning_rate, low=0.0, low_inclusive=False)
    label_smoothing = check_fraction("label_smoothing", label_smoothing)
    num_classes = getattr(head, "num_classes", None)
    # A head with output_activation="linear" returns logits: the loss must know it.
    from_logits = getattr(head, "output_activation", "softmax") == "linear"
    inputs = keras.Input((features.shape[1],), name="features")
    model = keras.Model(inputs, head(inputs), name="head_on_features")
    if label_smoothing and num_classes is None:
        raise ValueError("label_smoothing needs a head with num_classes (a ClassifierHead).")
    loss = _classification_loss(num_classes, label_smoothing, from_logits)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    dataset = tf.data.Dataset.from_tensor_slices((features, labels.astype(np.int32)))
    dataset = dataset.shuffle(len(features), seed=seed).batch(batch_size).prefetch(2)
    validation = None
    if validation_data is not None:
        validation = tf.data.Dataset.from_tensor_slices(
            (np.asarray(validation_data[0]), np.asarray(validation_data[1]).astype(np.int32))
        ).batch(1024)
    # The dataset shuffles itself each epoch; shuffle=False keeps Keras from warning that
    # its own (default) shuffle does not apply to a tf.data.Dataset.
    return model.fit(dataset, epochs=epochs, class_weight=class_weight, validation_data=validation,
                     callbacks=callbacks, verbose=verbose, shuffle=False)


def _classification_loss(num_classes: int | None, label_smoothing: float = 0.0,
                         from_logits: bool = False) -> keras.losses.Loss:
    """Sparse categorical cross-entropy, smoothed when ``label_smoothing`` > 0 (one loss
    for the frozen phase and fine-tuning)."""
    if label_smoothing:
        return _SparseSmoothedCrossEntropy(num_classes, label_smoothing, from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


# Registered so that a saved model compiled with it (tlkit.train's) loads again.
@keras.saving.register_keras_serializable(package="tlkit")
class _SparseSmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy of integer labels against smoothed one-hot targets: Keras'
    ``SparseCategoricalCrossentropy`` has no ``label_smoothing``."""

    def __init__(self, num_classes: int, smoothing: float, from_logits: bool = False,
                 name: str = "smoothed_crossentropy", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.smoothing = float(smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                                    self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, from_logits=self.from_logits,
                                                     label_smoothing=self.smoothing)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_classes": self.num_classes,
                "smoothing": self.smoothing, "from_logits": self.from_logits}

"""Split: the train, validation and test parts of a data set, matched by class name."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from tlkit.data.imageset import ImageSet

__all__ = ["Split", "count_parts", "fraction_parts"]


class Split(NamedTuple):
    """Train, validation and test subsets (an empty :class:`ImageSet` when not asked for).

    Parts read from separate folders each number their own classes (``val/`` without
    class ``b`` calls ``c`` 1, not 2): :meth:`matched` puts every part on the training
    classes by name, and :func:`tlkit.train` calls it for every Split it is given.

    Example:
        >>> from tlkit import ImageSet
        >>> train = ImageSet(["a1", "b1", "c1"], [0, 1, 2], ["a", "b", "c"])
        >>> val = ImageSet(["a2", "c2"], [0, 1], ["a", "c"])
        >>> parts = Split(train, val, ImageSet([], [], ["a"])).matched()
        >>> parts.val.class_names, parts.val.labels.tolist()
        (['a', 'b', 'c'], [0, 2])
    """

    train: ImageSet
    val: ImageSet
    test: ImageSet

    def matched(self) -> Split:
        """Every part labelled by the training part's class names, matched by name.

        A class the training part lacks is an error (the model could never answer it);
        a training class that validation or test lacks is fine (it has no images to
        score there): :meth:`missing_classes` lists them.

        Returns:
            A :class:`Split` whose three parts share ``train.class_names``.

        Raises:
            ValueError: ``val`` or ``test`` has images of a class that ``train`` lacks.
        """
        names = self.train.class_names
        return Split(self.train, self.val.match_classes(names, part="val"),
                     self.test.match_classes(names, part="test"))

    def missing_classes(self) -> dict[str, list[str]]:
        """Training classes without an image in ``val`` or ``test`` (parts with images).

        Example:
            >>> from tlkit import ImageSet
            >>> train = ImageSet(["a1", "b1"], [0, 1], ["a", "b"])
            >>> Split(train, ImageSet(["a2"], [0], ["a"]), ImageSet([], [], ["a"])).matched(
            ...     ).missing_classes()
            {'val': ['b']}
        """
        missing = {}
        for name, part in (("val", self.val), ("test", self.test)):
            present = {part.class_names[y] for y in part.labels.tolist()}
            absent = [c for c in self.train.class_names if c not in present]
            if len(part) and absent:
                missing[name] = absent
        return missing


Missed = list[tuple[int, int, list[str]]]  # (group, its size, the parts it could not fill)


def fraction_parts(groups: list[np.ndarray], *, val: float, test: float,
                   seed: int) -> tuple[dict[str, list[np.ndarray]], Missed]:
    """Each group's members (image indices) shuffled and cut into train / val / test.

    Per group, ``round(test * n)`` go to test and ``round(val * n)`` to validation, at
    least one each when the fraction is above 0 and the group has an image to spare;
    train keeps at least one image, then test, then validation.

    Returns:
        The index arrays of each part (one per group), and ``(group, n, parts missed)``
        for every group too small for a part asked for.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    missed: Missed = []
    for index, members in enumerate(groups):
        members = rng.permutation(members)
        n = members.size
        if n == 0:
            continue
        n_test = max(int(round(test * n)), 1 if test > 0 else 0)
        n_val = max(int(round(val * n)), 1 if val > 0 else 0)
        n_test = min(n_test, n - 1)
        n_val = min(n_val, n - 1 - n_test)
        lacking = [name for name, asked, got in (("test", test, n_test), ("val", val, n_val))
                   if asked > 0 and got == 0]
        if lacking:
            missed.append((index, n, lacking))
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test:n_test + n_val])
        parts["train"].append(members[n_test + n_val:])
    return parts, missed


def count_parts(groups: list[np.ndarray], *, train: int, val: int, test: int | None,
                seed: int) -> dict[str, list[np.ndarray]]:
    """Each group's members shuffled: ``train`` for training, ``val`` for validation, and
    up to ``test`` of the rest (all with ``None``) for testing."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for members in groups:
        members = rng.permutation(members)
        parts["train"].append(members[:train])
        parts["val"].append(members[train:train + val])
        rest = members[train + val:]
        parts["test"].append(rest if test is None else rest[:test])
    return parts

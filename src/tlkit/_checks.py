"""Private argument checks: the one place where bad arguments become clear errors.

Every public function of tlkit checks its arguments with these helpers, so every
message has the same shape, after Keras' own: what the argument must be, then
``Received: argument=value``. A wrong *type* raises ``TypeError``; a value of the
right type that is out of range or unknown raises ``ValueError``. NumPy integers and
floats are accepted wherever Python ones are (``np.int64(3)`` from an array is a
perfectly good epoch count); ``bool`` is never taken for a number.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable, Sequence
from typing import Any


def received(argument: str, value: Any) -> str:
    """The tail of every message: ``Received: argument=value``."""
    return f"Received: {argument}={value!r}"


def type_error(argument: str, value: Any, expected: str) -> TypeError:
    """A ``TypeError`` for ``argument``: what it must be, what it got and of which type."""
    return TypeError(
        f"{argument} must be {expected}. {received(argument, value)} of type "
        f"{type(value).__name__}."
    )


def value_error(argument: str, value: Any, expected: str) -> ValueError:
    """A ``ValueError`` for ``argument``: what it must be and what it got."""
    return ValueError(f"{argument} must be {expected}. {received(argument, value)}.")


def unknown_name_error(argument: str, value: Any, valid: Iterable[str]) -> ValueError:
    """The error for an unknown name: lists the valid ones and suggests the closest."""
    valid = sorted(str(v) for v in valid)
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"Unknown {argument}: expected one of {', '.join(valid)}. "
        f"{received(argument, value)}.{hint}"
    )


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers, false for ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """True for Python and NumPy real numbers, false for ``bool``."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(argument: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` within ``[minimum, maximum]`` (bounds optional)."""
    if not is_int(value):
        raise type_error(argument, value, "an int")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            expected = f"an int >= {minimum}"
        elif minimum is None:
            expected = f"an int <= {maximum}"
        else:
            expected = f"an int in [{minimum}, {maximum}]"
        raise value_error(argument, value, expected)
    return value


def check_positive_int(argument: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` >= ``minimum`` (1 unless told)."""
    return check_int(argument, value, minimum=minimum)


def check_number(argument: str, value: Any, *, low: float | None = None,
                 high: float | None = None, low_inclusive: bool = True,
                 high_inclusive: bool = True) -> float:
    """Return ``value`` as a ``float`` in the interval given by ``low`` and ``high``."""
    if not is_number(value):
        raise type_error(argument, value, "a number")
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high or value != value:  # value != value: NaN
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        interval = (("[" if low_inclusive and low is not None else "(") + f"{left}, {right}"
                    + ("]" if high_inclusive and high is not None else ")"))
        raise value_error(argument, value, f"a number in {interval}")
    return value


def check_fraction(argument: str, value: Any, *, low_inclusive: bool = True) -> float:
    """Return ``value`` as a float in ``[0, 1)`` (or ``(0, 1)`` when ``low_inclusive`` is false)."""
    return check_number(argument, value, low=0.0, high=1.0, low_inclusive=low_inclusive,
                        high_inclusive=False)


def check_bool(argument: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool`` (NumPy's included), else raise ``TypeError``."""
    if not isinstance(value, (bool, _np_bool())):
        raise type_error(argument, value, "True or False")
    return bool(value)


def check_choice(argument: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices`` (``None`` may be one), else raise."""
    if value in choices and not isinstance(value, bool):
        return value
    names = [c for c in choices if isinstance(c, str)]
    if value is not None and not isinstance(value, str):
        shown = ", ".join(repr(c) for c in choices)
        raise type_error(argument, value, f"one of {shown}")
    if None in choices:
        names.append("None")
    raise unknown_name_error(argument, value, names)


def check_image_size(argument: str, value: Any) -> tuple[int, int]:
    """Return ``(height, width)`` from one int (a square) or a pair of ints, each >= 1."""
    if is_int(value):
        side = check_int(argument, value, minimum=1)
        return side, side
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise type_error(argument, value, "an int or a (height, width) pair of ints")
    if len(value) != 2:
        raise value_error(argument, value, "an int or a (height, width) pair of ints")
    height = check_int(f"{argument}[0] (height)", value[0], minimum=1)
    width = check_int(f"{argument}[1] (width)", value[1], minimum=1)
    return height, width


def check_names(argument: str, value: Any, *, minimum: int = 1) -> list[str]:
    """Return a list of distinct names (at least ``minimum``) from a sequence of strings."""
    if isinstance(value, (str, bytes)) or not _is_sequence(value):
        raise type_error(argument, value, "a sequence of names")
    names = [str(name) for name in value]
    if len(names) < minimum:
        raise value_error(argument, value, f"a sequence of at least {minimum} names")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"{argument} must hold distinct names; repeated: {duplicated[:10]}.")
    return names


def _is_sequence(value: Any) -> bool:
    import numpy as np

    return isinstance(value, (Sequence, np.ndarray))


def _np_bool() -> type:
    import numpy as np

    return np.bool_


def check_pixels(argument: str, value: Any, image_size: tuple[int, int]) -> Any:
    """``value`` as float32 RGB pixels ``(n, height, width, 3)`` at ``image_size``."""
    import numpy as np  # here, not at the top: the command line's --help imports this module

    batch = np.asarray(value, dtype=np.float32)
    if batch.ndim != 4 or tuple(batch.shape[1:]) != (*image_size, 3):
        raise ValueError(
            f"{argument} must be (n, {image_size[0]}, {image_size[1]}, 3) for this model; give "
            f"image files to predict(). Received: shape {batch.shape}.")
    return batch

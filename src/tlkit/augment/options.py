"""What an augmentation policy may hold: transforms, their ranges, presets, and their checks.

Shared by :mod:`~tlkit.augment.policy` (the user's description) and
:mod:`~tlkit.augment.layer` (the Keras layer that runs it), which both import it.
"""

from __future__ import annotations

from typing import Any

from tlkit._checks import check_int, check_number, type_error, unknown_name_error

FLIPS = (None, "horizontal", "vertical", "horizontal_and_vertical")
VALUE_RANGE = (0.0, 255.0)

# name -> (low, high, high inclusive)
FACTOR_RANGES = {
    "rotation": (0.0, 0.5, True),
    "zoom": (0.0, 1.0, False),
    "translation": (0.0, 1.0, False),
    "contrast": (0.0, 1.0, True),
    "brightness": (0.0, 1.0, True),
}
RAND_AUGMENT_DEFAULTS = {"num_ops": 2, "factor": 0.5}

PRESETS: dict[str, dict[str, Any]] = {
    "light": {"flip": "horizontal", "rotation": 0.03, "zoom": 0.1},
    "standard": {"flip": "horizontal", "rotation": 0.1, "zoom": 0.2},
    "strong": {
        "flip": "horizontal",
        "rotation": 0.15,
        "zoom": 0.25,
        "translation": 0.1,
        "contrast": 0.3,
        "brightness": 0.2,
    },
}


def check_factor(name: str, value: Any) -> float:
    """Return the factor ``name`` as a float within its range."""
    low, high, inclusive = FACTOR_RANGES[name]
    return check_number(name, value, low=low, high=high, high_inclusive=inclusive)


def check_rand_augment(value: Any) -> dict[str, Any] | None:
    """Return RandAugment's options (defaults filled in), or ``None`` when it is off."""
    if value is None or value is False:
        return None
    if value is True:
        return dict(RAND_AUGMENT_DEFAULTS)
    if not isinstance(value, dict):
        raise type_error("rand_augment", value, f"None, True or a dict like {RAND_AUGMENT_DEFAULTS}")
    unknown = set(value) - set(RAND_AUGMENT_DEFAULTS)
    if unknown:
        raise unknown_name_error("rand_augment key", sorted(unknown)[0], RAND_AUGMENT_DEFAULTS)
    merged = {**RAND_AUGMENT_DEFAULTS, **value}
    num_ops, factor = merged["num_ops"], merged["factor"]
    num_ops = check_int("rand_augment['num_ops']", num_ops, minimum=1)
    factor = check_number("rand_augment['factor']", factor, low=0.0, high=1.0, low_inclusive=False)
    return {"num_ops": num_ops, "factor": factor}



def checked_options(config: dict[str, Any]) -> dict[str, Any]:
    """Check a policy's options (its config dict) and return them with defaults filled in."""
    if not isinstance(config, dict):
        raise type_error("config", config, "a dict of augmentation options")
    fields = ("flip", *FACTOR_RANGES, "rand_augment", "seed")
    unknown = set(config) - set(fields)
    if unknown:
        raise unknown_name_error("augmentation option", sorted(unknown)[0], fields)
    flip = config.get("flip", "horizontal")
    if flip not in FLIPS:
        raise unknown_name_error("flip", flip, [str(f) for f in FLIPS])
    options: dict[str, Any] = {"flip": flip}
    for name in FACTOR_RANGES:
        options[name] = check_factor(name, config.get(name, 0.0))
    options["rand_augment"] = check_rand_augment(config.get("rand_augment"))
    seed = config.get("seed")
    options["seed"] = None if seed is None else check_int("seed", seed)
    return options

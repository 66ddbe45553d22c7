"""The machine's calibration figure, recorded in the benchmarks' JSON.

Frozen MobileNetV2 forward at 224 px, batch 64, in images per second (the median-free
mean of a few batches after one warm-up batch). These machines' speed varies 2-3x from day
to day, so a JSON with this figure beside its timings can be compared with one from
another day or machine; ratios within one run need no calibration.

    python benchmarks/_calibration.py      # prints the figure
"""

from __future__ import annotations

import time

import numpy as np

import tlkit


def calibration_images_per_second(batches: int = 5) -> float:
    """Frozen MobileNetV2 (random weights: speed does not depend on them) at 224 px, batch 64."""
    backbone = tlkit.build_backbone("mobilenet_v2", weights=None, pooling="avg")
    x = np.random.default_rng(0).uniform(0, 255, (64, 224, 224, 3)).astype("float32")
    backbone.predict_on_batch(x)
    start = time.perf_counter()
    for _ in range(batches):
        backbone.predict_on_batch(x)
    return round(64 * batches / (time.perf_counter() - start), 1)


if __name__ == "__main__":
    print(calibration_images_per_second())

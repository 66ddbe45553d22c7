"""GradualUnfreeze under tf.distribute.MirroredStrategy over two logical CPU devices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
import keras, numpy as np
sys.path.insert(0, sys.argv[1])
from _helpers import calibrate_batch_norm
import tlkit

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
y = rng.integers(0, 3, 16)
keras.utils.set_random_seed(0)
with strategy.scope():
    backbone = tlkit.build_backbone("mobilenet_v2", image_size=32, weights=None)
    calibrate_batch_norm(backbone, x)
    model = tlkit.build_classifier(backbone, tlkit.ClassifierHead(3, hidden_units=()))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
top = backbone.get_layer("mobilenet_v2").get_layer("Conv_1").kernel
below = backbone.get_layer("mobilenet_v2").get_layer("block_16_project").kernel
snapshots = []
record = keras.callbacks.LambdaCallback(
    on_epoch_end=lambda epoch, logs: snapshots.append((np.array(top), np.array(below))))
unfreezer = tlkit.GradualUnfreeze(backbone, {1: 1}, verbose=0)
start = (np.array(top), np.array(below))
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
model.fit(dataset, epochs=2, callbacks=[unfreezer, record], verbose=0)
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "top_moved_in_epoch_0": bool(not np.array_equal(start[0], snapshots[0][0])),
    "top_moved_in_epoch_1": bool(not np.array_equal(snapshots[0][0], snapshots[1][0])),
    "below_moved": bool(not np.array_equal(start[1], snapshots[1][1])),
    "events": [(e["epoch"], e["top_blocks"]) for e in unfreezer.events],
}))
"""


def test_gradual_unfreeze_under_mirrored_strategy() -> None:
    tests_dir = str(Path(__file__).resolve().parent)
    result = subprocess.run([sys.executable, "-c", SCRIPT, tests_dir], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "replicas": 2,
        "top_moved_in_epoch_0": False,
        "top_moved_in_epoch_1": True,
        "below_moved": False,
        "events": [[0, 0], [1, 1]],
    }

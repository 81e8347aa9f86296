"""Keras finds keras-hsmix's saved classes after a bare ``import keras_hsmix``, although the package imports lazily
(``keras-hsmix --help`` loads no TensorFlow): a new process that only imports the package, then Keras, loads
a layer, a loss and an HSMixModel from their saved configs."""

from __future__ import annotations

import json
import subprocess
import sys

import keras

from keras_hsmix import HSMixModel
from keras_hsmix.layers import HSMix
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.models import unet

LOAD = """
import json, sys
import keras_hsmix
assert "keras" not in sys.modules and "tensorflow" not in sys.modules  # nothing loaded yet
import keras
print(json.dumps([type(keras.saving.deserialize_keras_object(c)).__name__ for c in json.loads(sys.argv[1])]))
"""


def test_saved_classes_load_after_a_bare_import_of_the_package() -> None:
    objects = [HSMix(seed=1), DiceCELoss(), HSMixModel(unet((32, 32, 3), 2, base_filters=4, depth=1), num_classes=2)]
    configs = json.dumps([keras.saving.serialize_keras_object(o) for o in objects])
    result = subprocess.run([sys.executable, "-c", LOAD, configs], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["HSMix", "DiceCELoss", "HSMixModel"]

"""keras-hsmix is TensorFlow code: another Keras backend is refused at import with a message that says so."""

from __future__ import annotations

import subprocess
import sys


def test_import_refuses_a_non_tensorflow_backend():
    # This machine may lack JAX / PyTorch, so the other backend is simulated: Keras reports "jax".
    code = (
        "import keras; keras.backend.backend = lambda: 'jax'\n"
        "try:\n"
        "    import keras_hsmix\n"
        "except ImportError as error:\n"
        "    print('REFUSED', error)\n"
        "else:\n"
        "    print('IMPORTED')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert "REFUSED keras-hsmix needs Keras' TensorFlow backend, but Keras runs on 'jax'" in result.stdout, (
        result.stdout + result.stderr
    )
    assert "KERAS_BACKEND=tensorflow" in result.stdout


def test_import_on_the_tensorflow_backend():
    import keras

    import keras_hsmix

    assert keras.backend.backend() == "tensorflow" and keras_hsmix.__version__

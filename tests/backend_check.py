"""What a user of one Keras backend does with keras-hsmix, run by tests/test_backend.py in a subprocess.

``KERAS_BACKEND=<backend> python tests/backend_check.py OUT DATA``: imports the package, mixes in ``tf.data``
with the three layers (saving the mixes to ``OUT/mixes.npz``, compared there with the TensorFlow backend's),
calls a layer eagerly on NumPy arrays, loads the PNG folder ``DATA`` with ``load_folder``, adds superpixels,
builds ``make_pipeline``, fits a small U-Net of that backend on it for one epoch, draws the preview figure,
and records what ``HSMixModel`` and a symbolic call say; the findings go to ``OUT/report.json``.
Everything is tiny (16 x 16 images, 4 of them) so that a backend costs little more than its imports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

SIZE = 16


def batches() -> list[dict]:
    """Two batches of four 16 x 16 images and class-id masks, the same on every backend."""
    rng = np.random.default_rng(0)
    return [
        {"images": rng.random((4, SIZE, SIZE, 3), dtype=np.float32),
         "segmentation_masks": rng.integers(0, 2, (4, SIZE, SIZE)).astype(np.int32)}
        for _ in range(2)
    ]


def layer_mixes() -> dict[str, np.ndarray]:
    """Each seeded layer mapped over the two batches of :func:`batches` in ``tf.data``: name -> arrays."""
    import tensorflow as tf

    from keras_hsmix import HardMix, HSMix, SoftMix  # every draw: n_segments, partner, picked, Beta, branch

    layers = {
        "hard": HardMix(num_classes=2, n_segments=(6, 10), seed=1),
        "soft_static": SoftMix(num_classes=2, n_segments=8, seed=2),
        "hsmix": HSMix(num_classes=2, n_segments=8, mode="concat", saliency="random", seed=4),
        "hsmix_random": HSMix(num_classes=2, n_segments=8, seed=5),
    }
    data = batches()
    out = {}
    for name, layer in layers.items():
        ds = tf.data.Dataset.from_tensor_slices({k: np.stack([b[k] for b in data]) for k in data[0]}).map(layer)
        for step, batch in enumerate(ds):
            for key, value in batch.items():
                out[f"{name}/{step}/{key}"] = value.numpy()
    return out


def write_folder(folder: Path, count: int = 4) -> None:
    """``count`` PNG image / mask pairs (``images/``, ``masks/``) of :data:`SIZE` pixels."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(folder / "images" / f"{i}.png")
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[i : i + 8, 4:12] = 255
        Image.fromarray(mask).save(folder / "masks" / f"{i}.png")


def main(out_dir: Path, data_dir: Path) -> None:
    import keras

    import keras_hsmix
    import keras_hsmix.data
    import keras_hsmix.layers
    import keras_hsmix.ops
    from keras_hsmix.data import add_superpixels, load_folder, make_pipeline
    from keras_hsmix.visualize import preview_figure

    report: dict = {"backend": keras.backend.backend()}
    np.savez(out_dir / "mixes.npz", **layer_mixes())

    eager = keras_hsmix.HardMix(num_classes=2, n_segments=8, seed=0)(batches()[0])
    report["eager"] = {k: [type(v).__module__.split(".")[0], bool(keras.ops.is_tensor(v)), list(v.shape)]
                       for k, v in eager.items()}

    folder = load_folder(data_dir, image_size=(SIZE, SIZE))
    report["load_folder"] = sorted(next(iter(folder)))
    report["add_superpixels"] = sorted(next(iter(add_superpixels(folder, n_segments=8))))
    pipeline = make_pipeline(folder, batch_size=2, n_segments=(6, 10), seed=0, progress=False)
    model = keras_hsmix.models.unet((SIZE, SIZE, 3), num_classes=2, base_filters=2, depth=1)
    model.compile(optimizer="adam", loss=keras_hsmix.losses.DiceCELoss(from_logits=True),
                  metrics=[keras_hsmix.metrics.Dice(num_classes=2)])
    history = model.fit(pipeline, epochs=1, verbose=0)
    report["fit"] = {k: [float(v) for v in values] for k, values in history.history.items()}
    report["model_variable"] = type(model.trainable_variables[0].value).__module__.split(".")[0]

    images, masks = (np.concatenate([b[k] for b in batches()]) for k in ("images", "segmentation_masks"))
    report["preview"] = preview_figure(images[:2], masks[:2], out_dir / "preview.png", n_segments=8).is_file()

    for what, attempt in (
        ("HSMixModel", lambda: keras_hsmix.HSMixModel(model, num_classes=2)),
        ("symbolic", lambda: keras_hsmix.HardMix(num_classes=2)(
            {"images": keras.Input((SIZE, SIZE, 3)), "segmentation_masks": keras.Input((SIZE, SIZE))})),
    ):
        try:
            attempt()
            report[what] = "no error"
        except RuntimeError as error:
            report[what] = str(error)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

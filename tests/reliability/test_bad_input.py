"""Bad input fails early, with a message naming the argument or the file.

Already covered elsewhere (and not repeated here): for every mixing layer, NaN images,
mismatched image/mask sizes, class ids >= num_classes, a wrong image rank, masks not
summing to 1, integer masks without num_classes and p outside [0, 1]
(``tests/layers/test_mixing_contract.py::TestErrors``); HSMix probabilities
(``tests/layers/test_hsmix.py::test_bad_arguments``); SLIC arguments and NaN images
(``tests/ops/test_superpixels.py``); corrupt, truncated and zero-byte files, unpaired
files, an empty folder and size mismatches in the folder loader
(``tests/data/test_folder.py``). This file adds the rest: more layer inputs,
``HSMixModel.fit``, ``make_pipeline``, ``keras-hsmix train --data`` and a hypothesis
fuzz of the folder loader.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from keras_hsmix import HardMix, HSMix, HSMixModel, SoftMix, slic_superpixels
from keras_hsmix.cli import main
from keras_hsmix.data import load_folder, make_pipeline
from tests.reliability._builders import make_folder, random_superpixels, snapshot

ERRORS = (ValueError, TypeError, tf.errors.InvalidArgumentError)
LAYERS = {"hard": HardMix, "soft": SoftMix, "hsmix": HSMix}


def _batch(batch: int = 3, height: int = 8, width: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "images": rng.random((batch, height, width, 3)).astype(np.float32),
        "segmentation_masks": rng.integers(0, 2, (batch, height, width)).astype(np.int32),
        "superpixels": random_superpixels(rng, batch, height, width),
    }


def _one_hot(batch: dict[str, np.ndarray]) -> np.ndarray:
    return np.eye(2, dtype=np.float32)[batch["segmentation_masks"]]


# --------------------------------------------------------------------------------------
# layers: what the contract tests do not cover
# --------------------------------------------------------------------------------------


def _inf_images(b: dict) -> dict:
    b["images"][0, 1, 2, 0] = np.inf
    return b


def _nan_probabilities(b: dict) -> dict:
    masks = _one_hot(b)
    masks[0, 0, 0] = np.nan
    return {**b, "segmentation_masks": masks}


def _negative_probabilities(b: dict) -> dict:
    masks = _one_hot(b)
    masks[0, 0, 0] = [-0.5, 1.5]
    return {**b, "segmentation_masks": masks}


def _set(key: str, value: Callable[[dict], Any]) -> Callable[[dict], dict]:
    return lambda b: {**b, key: value(b)}


LAYER_CASES: dict[str, tuple[Callable[[dict], dict], dict[str, Any], str]] = {
    # name: (make the bad batch, layer kwargs, expected message)
    "inf_images": (_inf_images, {"num_classes": 2}, "images: contains NaN or Inf"),
    "nan_probabilities": (_nan_probabilities, {}, "segmentation_masks: contains NaN or Inf"),
    "probabilities_outside_0_1": (_negative_probabilities, {}, "segmentation_masks: probabilities below 0"),
    "probabilities_above_1_one_channel": (
        _set("segmentation_masks", lambda b: np.full((3, 8, 8, 1), 1.5, np.float32)), {},
        "segmentation_masks: probabilities above 1"),
    "negative_class_id": (_set("segmentation_masks", lambda b: -b["segmentation_masks"] - 1), {"num_classes": 2},
                          "segmentation_masks: negative class id"),
    "fractional_class_ids": (_set("segmentation_masks", lambda b: b["segmentation_masks"] + np.float32(0.4)),
                             {"num_classes": 2}, "must hold integer class ids"),
    "integer_one_hot_not_one_hot": (_set("segmentation_masks", lambda b: 3 * _one_hot(b).astype(np.int32)),
                                    {"num_classes": 2}, "segmentation_masks: probabilities above 1"),
    "binary_mask_with_num_classes_1": (_set("segmentation_masks", lambda b: b["segmentation_masks"][..., None]
                                            .astype(np.float32)), {"num_classes": 1}, "num_classes=1"),
    "binary_id_mask_with_num_classes_1": (_set("segmentation_masks", lambda b: np.ones((3, 8, 8), np.int32)),
                                          {"num_classes": 1}, "binary masks .* need num_classes=2"),
    "mask_rank_2": (_set("segmentation_masks", lambda b: b["segmentation_masks"][0]), {"num_classes": 2},
                    "segmentation_masks: expected"),
    "mask_rank_5": (_set("segmentation_masks", lambda b: b["segmentation_masks"][..., None, None]),
                    {"num_classes": 2}, "segmentation_masks: expected"),
    "mask_wrong_channels": (_set("segmentation_masks", lambda b: np.zeros((3, 8, 8, 3), np.int32)), {"num_classes": 2},
                            "segmentation_masks: class-id masks must be"),
    "image_rank_2": (_set("images", lambda b: b["images"][0, ..., 0]), {"num_classes": 2}, "images: expected"),
    "batch_sizes_differ": (_set("segmentation_masks", lambda b: b["segmentation_masks"][:2]), {"num_classes": 2},
                           "segmentation_masks: shape .* does not match images"),
    "superpixels_size_differs": (_set("superpixels", lambda b: b["superpixels"][:, :, :5]), {"num_classes": 2},
                                 "superpixels: shape .* does not match images"),
    "negative_superpixel_id": (_set("superpixels", lambda b: b["superpixels"] - 100), {"num_classes": 2},
                               "superpixels: negative superpixel id"),
    "saliency_nan": (_set("saliency", lambda b: np.full((3, 8, 8), np.nan, np.float32)), {"num_classes": 2},
                     "saliency: contains NaN or Inf"),
    "saliency_negative": (_set("saliency", lambda b: np.full((3, 8, 8), -1.0, np.float32)), {"num_classes": 2},
                          "saliency: negative values"),
    "saliency_size_differs": (_set("saliency", lambda b: np.ones((3, 8, 4), np.float32)), {"num_classes": 2},
                              "saliency: shape .* does not match images"),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layers_reject_bad_input(kind: str, case: str) -> None:
    make, kwargs, message = LAYER_CASES[case]
    batch = make(_batch())
    with pytest.raises(ERRORS, match=message):
        LAYERS[kind](seed=0, **kwargs)(batch)


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("n_segments", [2.5, "100", (10,), (10.0, 20), (True, 3), None, (20, 10), 0])
def test_bad_n_segments_named(kind: str, n_segments: Any) -> None:
    if n_segments is None and kind == "hsmix":  # HSMix: None is "the recipe's" (docs/recipes.md)
        assert tuple(LAYERS[kind](num_classes=2, n_segments=None).n_segments) == (200, 400)
        return
    with pytest.raises(ValueError, match="n_segments"):
        LAYERS[kind](num_classes=2, n_segments=n_segments)


def test_slic_rejects_inf_and_bad_dtype() -> None:
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    image[3, 3, 1] = -np.inf
    with pytest.raises(ERRORS, match="images: SLIC input contains NaN or Inf"):
        slic_superpixels(image, n_segments=4)
    with pytest.raises(TypeError, match="images: unsupported dtype"):
        slic_superpixels(np.zeros((8, 8, 3), bool), n_segments=4)


# --------------------------------------------------------------------------------------
# HSMixModel.fit
# --------------------------------------------------------------------------------------


def _fit_model() -> HSMixModel:
    """A fresh, tiny model per test: a fit that failed leaves a model that cannot fit again."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    base = keras.Model(inputs, keras.layers.Conv2D(2, 1)(keras.layers.Conv2D(4, 3, padding="same")(inputs)))
    model = HSMixModel(base, num_classes=2, saliency="random", probabilities=(0.5, 0.5, 0.0), n_segments=10, seed=0)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def _nan_fit_images(b: dict) -> dict:
    b["images"][1, 2, 3, 0] = np.nan
    return b


FIT_CASES: dict[str, tuple[Callable[[dict], dict], str]] = {
    # The finite-check of the images and SLIC (when it runs first) both name them.
    "nan_images": (_nan_fit_images, "images: (contains|SLIC input contains) NaN or Inf"),
    "class_id_too_large": (_set("segmentation_masks", lambda b: b["segmentation_masks"] + 2),
                           "class id >= num_classes"),
    "mask_width_differs": (_set("segmentation_masks", lambda b: b["segmentation_masks"][:, :, :6]),
                           "segmentation_masks: shape .* does not match images"),
    "mask_rank_5": (_set("segmentation_masks", lambda b: b["segmentation_masks"][..., None, None]),
                    "segmentation_masks: expected"),
}


@pytest.mark.parametrize("batches", ["dict", "tuple"])
@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_hsmix_model_fit_rejects_bad_input(case: str, batches: str) -> None:
    """Dict batches from tf.data (batch size unknown when traced) and (x, y) arrays."""
    make, message = FIT_CASES[case]
    batch = make(_batch(batch=4))
    batch.pop("superpixels")
    fit_model = _fit_model()
    with pytest.raises(ERRORS, match=message):
        if batches == "dict":
            fit_model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(2), epochs=1, verbose=0)
        else:
            fit_model.fit(batch["images"], batch["segmentation_masks"], batch_size=2, epochs=1, verbose=0)


# --------------------------------------------------------------------------------------
# make_pipeline: errors at construction or at the first batch, never silently
# --------------------------------------------------------------------------------------


PIPELINE_CASES: dict[str, tuple[Callable[[dict], dict], str]] = {
    "nan_images": (_nan_fit_images, "images: .*NaN or Inf"),
    "inf_images": (_inf_images, "images: .*NaN or Inf"),
    "class_id_too_large": (_set("segmentation_masks", lambda b: b["segmentation_masks"] + 2),
                           "class id >= num_classes"),
    "mask_width_differs": (_set("segmentation_masks", lambda b: b["segmentation_masks"][:, :, :6]),
                           "segmentation_masks.*(does not match|must match) images"),
    # make_pipeline checks the element structure before SLIC or the cached static saliency run.
    "image_rank_3_per_element": (_set("images", lambda b: b["images"][..., 0]),
                                 r"dataset: images must be single images \[H, W, C\], got shape \(8, 8\)"),
}


@pytest.mark.parametrize("case", sorted(PIPELINE_CASES))
def test_make_pipeline_rejects_bad_input(case: str) -> None:
    make, message = PIPELINE_CASES[case]
    batch = make(_batch(batch=4))
    batch.pop("superpixels")
    batch["segmentation_masks"] = batch["segmentation_masks"][..., None]
    with pytest.raises(ERRORS, match=message):
        pipeline = make_pipeline(tf.data.Dataset.from_tensor_slices(batch), batch_size=2, num_classes=2,
                                 n_segments=10, seed=0)
        list(pipeline.take(2))


# --------------------------------------------------------------------------------------
# keras-hsmix train --data on bad folders
# --------------------------------------------------------------------------------------


def _truncate(root: Path) -> Path:
    path = root / "images" / "3.png"
    path.write_bytes(path.read_bytes()[:40])
    return path


def _zero_bytes(root: Path) -> Path:
    path = root / "masks" / "2.png"
    path.write_bytes(b"")
    return path


def _not_an_image(root: Path) -> Path:
    path = root / "images" / "2.png"
    path.write_bytes(b"not an image\n" * 10)
    return path


def _unpaired_mask(root: Path) -> Path:
    path = root / "masks" / "9.png"
    path.write_bytes((root / "masks" / "1.png").read_bytes())
    return path


def _unpaired_image(root: Path) -> Path:
    path = root / "images" / "7.png"
    path.write_bytes((root / "images" / "1.png").read_bytes())
    return path


def _empty_folder(root: Path) -> Path:
    for path in list((root / "images").iterdir()) + list((root / "masks").iterdir()):
        path.unlink()
    return root / "images"


def _size_mismatch(root: Path) -> Path:
    path = root / "masks" / "4.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(path)
    return path


FOLDER_CASES = {
    "truncated_image": (_truncate, "cannot read image file"),
    "zero_byte_mask": (_zero_bytes, r"is empty \(0 bytes\)"),
    "not_an_image": (_not_an_image, "not a valid image"),
    "mask_without_image": (_unpaired_mask, "without an image"),
    "image_without_mask": (_unpaired_image, "without a mask"),
    "empty_folder": (_empty_folder, "no images found"),
    "size_mismatch": (_size_mismatch, "sizes differ"),
}


@pytest.mark.parametrize("case", sorted(FOLDER_CASES))
def test_cli_train_on_bad_folder_fails_clearly_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    damage, message = FOLDER_CASES[case]
    data = make_folder(tmp_path / "data")
    bad = damage(data)
    before = snapshot(data)
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--out", str(out), "--size", "16", "--epochs", "1", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "keras-hsmix train: error:" in err and re.search(message, err), err
    assert str(bad) in err or (bad.name in err and str(bad.parent) in err), f"the message does not name {bad}: {err}"
    assert snapshot(data) == before, "the data folder was modified"
    assert not out.exists(), "a run folder was created for data that could not be loaded"


# --------------------------------------------------------------------------------------
# folder loader fuzz (hypothesis): random damage to real PNG / JPEG / TIFF / BMP files
# --------------------------------------------------------------------------------------


def _encoded(fmt: str, mask: bool) -> bytes:
    rng = np.random.default_rng(1)
    array = (rng.random((12, 16)) > 0.5).astype(np.uint8) * 255 if mask else rng.integers(0, 256, (12, 16, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


FORMATS = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "BMP": ".bmp"}


@st.composite
def damaged_files(draw: st.DrawFn) -> tuple[str, str, bytes]:
    side = draw(st.sampled_from(["images", "masks"]))
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    data = bytearray(_encoded(fmt, mask=side == "masks"))
    how = draw(st.sampled_from(["truncate", "overwrite", "insert", "zero_header"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "overwrite":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=32))
    else:
        data[: min(len(data), 16)] = bytes(min(len(data), 16))
    return side, FORMATS[fmt], bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF / TIFF tags
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(damaged=damaged_files())
def test_fuzz_folder_loader_raises_or_skips_and_never_writes(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture, damaged: tuple[str, str, bytes]
) -> None:
    side, suffix, payload = damaged
    root = make_folder(tmp_path_factory.mktemp("fuzz"), stems=("1", "2"), size=(12, 16))
    bad = root / side / f"bad{suffix}"
    bad.write_bytes(payload)
    partner = root / ("masks" if side == "images" else "images") / "bad.png"
    partner.write_bytes((root / ("masks" if side == "images" else "images") / "1.png").read_bytes())
    before = snapshot(root)
    try:
        dataset = load_folder(root, image_size=(8, 8))
    except ValueError as error:
        assert str(bad) in str(error), f"the message does not name the file: {error}"
    else:  # Pillow decoded it (damage in ancillary data): then the data must still be valid
        for element in dataset.as_numpy_iterator():
            assert np.isfinite(element["images"]).all() and 0 <= element["images"].min() <= element["images"].max() <= 1
            assert set(np.unique(element["segmentation_masks"])) <= {0, 1}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keras_hsmix.data.folder"):
        count = int(load_folder(root, image_size=(8, 8), on_error="skip").cardinality())
    assert count in (2, 3)
    if count == 2:
        assert str(bad) in caplog.text and "skipping pair" in caplog.text
    assert snapshot(root) == before, "the data folder was modified"

"""Tests for keras_hsmix.data.folder (find_pairs / load_folder)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hsmix.data import find_pairs, load_folder
from keras_hsmix.data.files import natural_sort_key

LOGGER = "keras_hsmix.data.folder"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _image(rng: np.random.Generator, h: int = 24, w: int = 32) -> np.ndarray:
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _mask(rng: np.random.Generator, h: int = 24, w: int = 32, values=(0, 255)) -> np.ndarray:
    """Blocky mask (4x4 cells) of the given raw values."""
    cells = rng.integers(0, len(values), size=(-(-h // 4), -(-w // 4)))
    big = np.kron(cells, np.ones((4, 4), dtype=np.int64))[:h, :w]
    return np.asarray(values, dtype=np.uint8)[big]


def _one_foreground_pixel(h: int, w: int) -> np.ndarray:
    """Background mask with one foreground pixel, so load_folder's all-background warning stays quiet."""
    mask = np.zeros((h, w), np.uint8)
    mask[-1, -1] = 255
    return mask


def _make_folder(root: Path, stems=("1", "2", "3"), h: int = 24, w: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for stem in stems:
        _save(root / "images" / f"{stem}.png", _image(rng, h, w))
        _save(root / "masks" / f"{stem}.png", _mask(rng, h, w))
    return root


def _snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Hash, size and mtime of every file under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = (digest, stat.st_size, stat.st_mtime_ns)
    return out


def _elements(ds: tf.data.Dataset) -> list[dict[str, np.ndarray]]:
    return [{k: v.numpy() for k, v in e.items()} for e in ds]


# --------------------------------------------------------------------------------------
# basic behaviour
# --------------------------------------------------------------------------------------


def test_shapes_dtypes_and_ranges(tmp_path):
    root = _make_folder(tmp_path)
    ds = load_folder(root, image_size=(16, 20))
    spec = ds.element_spec
    assert set(spec) == {"images", "segmentation_masks"}
    assert spec["images"] == tf.TensorSpec((16, 20, 3), tf.float32)
    assert spec["segmentation_masks"] == tf.TensorSpec((16, 20, 1), tf.int32)
    assert int(ds.cardinality()) == 3
    elements = _elements(ds)
    assert len(elements) == 3
    for e in elements:
        assert e["images"].dtype == np.float32 and 0.0 <= e["images"].min() and e["images"].max() <= 1.0
        assert set(np.unique(e["segmentation_masks"])) <= {0, 1}


def test_no_resize_keeps_exact_values(tmp_path):
    rng = np.random.default_rng(3)
    image, mask = _image(rng, 10, 12), _mask(rng, 10, 12)
    _save(tmp_path / "images" / "a.png", image)
    _save(tmp_path / "masks" / "a.png", mask)
    (e,) = _elements(load_folder(tmp_path, image_size=(10, 12)))
    np.testing.assert_allclose(e["images"], image / 255.0, atol=1e-6)
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], (mask > 0).astype(np.int32))


@pytest.mark.parametrize("size", [(13, 17), (7, 5), (61, 45)])
def test_nearest_neighbour_masks_keep_only_valid_ids(tmp_path, size):
    rng = np.random.default_rng(1)
    values = (0, 50, 100, 200)
    for stem in ("a", "b"):
        _save(tmp_path / "images" / f"{stem}.png", _image(rng, 30, 22))
        _save(tmp_path / "masks" / f"{stem}.png", _mask(rng, 30, 22, values=values))
    ds = load_folder(tmp_path, image_size=size, mask_mode="values", label_values=list(values))
    for e in _elements(ds):
        assert e["segmentation_masks"].shape == (*size, 1)
        assert set(np.unique(e["segmentation_masks"])) <= {0, 1, 2, 3}


def test_natural_sort_key():
    names = ["img10", "img2", "10", "2", "1", "img1", "a", "B"]
    assert sorted(names, key=natural_sort_key) == ["1", "2", "10", "a", "B", "img1", "img2", "img10"]


def test_pairs_and_dataset_are_in_natural_order(tmp_path):
    stems = ["10", "2", "1", "21", "3"]
    for i, stem in enumerate(stems):
        value = int(stem)  # encode the stem in the pixels
        _save(tmp_path / "images" / f"{stem}.png", np.full((8, 8), value, np.uint8))
        _save(tmp_path / "masks" / f"{stem}.png", _one_foreground_pixel(8, 8))
    pairs = find_pairs(tmp_path)
    assert [p[0].stem for p in pairs] == ["1", "2", "3", "10", "21"]
    assert all(img.stem == msk.stem for img, msk in pairs)
    got = [int(round(e["images"][0, 0, 0] * 255)) for e in _elements(load_folder(tmp_path, image_size=(8, 8)))]
    assert got == [1, 2, 3, 10, 21]


def test_different_extensions_and_case(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "images" / "a.jpg", _image(rng))
    _save(tmp_path / "masks" / "a.png", _mask(rng))
    _save(tmp_path / "images" / "b.PNG", _image(rng))
    _save(tmp_path / "masks" / "b.TIF", _mask(rng))
    _save(tmp_path / "images" / "c.JPEG", _image(rng))
    _save(tmp_path / "masks" / "c.bmp", _mask(rng))
    _save(tmp_path / "images" / "d.tiff", _image(rng))
    _save(tmp_path / "masks" / "d.Gif", _mask(rng))
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    (tmp_path / "images" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "masks" / "._a.png").write_bytes(b"AppleDouble junk")
    pairs = find_pairs(tmp_path)
    assert [(i.name, m.name) for i, m in pairs] == [
        ("a.jpg", "a.png"), ("b.PNG", "b.TIF"), ("c.JPEG", "c.bmp"), ("d.tiff", "d.Gif")
    ]
    assert len(_elements(load_folder(tmp_path, image_size=(8, 8)))) == 4


def test_custom_subdirs(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "img" / "x.png", _image(rng))
    _save(tmp_path / "gt" / "x.png", _mask(rng))
    ds = load_folder(tmp_path, image_size=(8, 8), images_subdir="img", masks_subdir="gt")
    assert int(ds.cardinality()) == 1


def test_image_size_none_keeps_variable_sizes(tmp_path):
    rng = np.random.default_rng(0)
    sizes = {"1": (10, 14), "2": (7, 9), "3": (12, 12)}
    sources = {}
    for stem, (h, w) in sizes.items():
        sources[stem] = (_image(rng, h, w), _mask(rng, h, w))
        _save(tmp_path / "images" / f"{stem}.png", sources[stem][0])
        _save(tmp_path / "masks" / f"{stem}.png", sources[stem][1])
    ds = load_folder(tmp_path, image_size=None)
    assert ds.element_spec["images"].shape.as_list() == [None, None, 3]
    assert ds.element_spec["segmentation_masks"].shape.as_list() == [None, None, 1]
    for stem, e in zip(("1", "2", "3"), _elements(ds)):
        image, mask = sources[stem]
        np.testing.assert_allclose(e["images"], image / 255.0, atol=1e-6)
        np.testing.assert_array_equal(e["segmentation_masks"][..., 0], (mask > 0).astype(np.int32))


@pytest.mark.parametrize("image_size", [(12, 12), None])
def test_works_in_graph_mode_and_is_serializable(tmp_path, image_size):
    root = _make_folder(tmp_path, h=12, w=12)
    ds = load_folder(root, image_size=image_size)

    @tf.function
    def total(dataset):
        acc = tf.constant(0, tf.int32)
        for e in dataset:
            acc += tf.reduce_sum(e["segmentation_masks"])
        return acc

    expected = sum(int(e["segmentation_masks"].sum()) for e in _elements(ds))
    assert int(total(ds)) == expected
    batched = ds.map(lambda e: (e["images"] * 2.0, e["segmentation_masks"])).batch(2)
    assert len(list(batched)) == 2
    # No Python callbacks (from_generator / py_function) inside: the graph can be serialized,
    # which is what the tf.data service needs.
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(ds._as_serialized_graph().numpy())
    ops = {node.op for node in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}
    assert not ops & {"PyFunc", "EagerPyFunc", "GeneratorDataset"}


# --------------------------------------------------------------------------------------
# image formats and conversions
# --------------------------------------------------------------------------------------


def test_uint16_tiff_and_png_images_scaled_by_65535(tmp_path):
    data = (np.arange(12 * 16).reshape(12, 16) * 300).astype(np.uint16)
    _save(tmp_path / "images" / "a.tif", data)
    _save(tmp_path / "images" / "b.png", data)
    _save(tmp_path / "masks" / "a.png", _one_foreground_pixel(12, 16))
    _save(tmp_path / "masks" / "b.png", _one_foreground_pixel(12, 16))
    for channels in (1, 3):
        for e in _elements(load_folder(tmp_path, image_size=None, channels=channels)):
            assert e["images"].shape == (12, 16, channels)
            for c in range(channels):
                np.testing.assert_allclose(e["images"][..., c], data / 65535.0, atol=1e-6)


def test_uint16_masks(tmp_path):
    mask = np.zeros((8, 8), np.uint16)
    mask[2:5, 3:6] = 1000
    _save(tmp_path / "images" / "a.png", np.zeros((8, 8, 3), np.uint8))
    _save(tmp_path / "masks" / "a.tif", mask)
    (e,) = _elements(load_folder(tmp_path, image_size=None))
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], (mask > 0).astype(np.int32))
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 1000]))
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], (mask > 0).astype(np.int32))


def test_float_tiff(tmp_path):
    good = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    _save(tmp_path / "images" / "a.tiff", good)
    _save(tmp_path / "masks" / "a.png", _one_foreground_pixel(8, 8))
    (e,) = _elements(load_folder(tmp_path, image_size=None, channels=1))
    np.testing.assert_allclose(e["images"][..., 0], good)

    for bad_value in (np.nan, np.inf):
        bad = good.copy()
        bad[3, 3] = bad_value
        _save(tmp_path / "images" / "a.tiff", bad)
        with pytest.raises(ValueError, match=r"a\.tiff.*NaN or Inf"):
            load_folder(tmp_path, image_size=None)

    _save(tmp_path / "images" / "a.tiff", good * 255)
    with pytest.raises(ValueError, match=r"a\.tiff.*\[0, 1\]"):
        load_folder(tmp_path, image_size=None)


def test_gif_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((8, 10), v, np.uint8)).convert("P") for v in (40, 200)]
    (tmp_path / "images").mkdir()
    frames[0].save(tmp_path / "images" / "a.gif", save_all=True, append_images=frames[1:])
    mask = np.zeros((8, 10), np.uint8)
    mask[:, :5] = 255
    _save(tmp_path / "masks" / "a.gif", mask)
    (e,) = _elements(load_folder(tmp_path, image_size=None))
    np.testing.assert_allclose(e["images"], 40 / 255.0, atol=1e-6)
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], (mask > 0).astype(np.int32))


def test_channel_conversion_and_alpha(tmp_path):
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 7  # pure red, nearly transparent
    _save(tmp_path / "images" / "rgba.png", rgba)
    _save(tmp_path / "images" / "gray.png", np.full((6, 6), 128, np.uint8))
    _save(tmp_path / "images" / "bw.png", np.ones((6, 6), bool))  # mode "1"
    for stem in ("rgba", "gray", "bw"):
        _save(tmp_path / "masks" / f"{stem}.png", _one_foreground_pixel(6, 6))
    bw_e, gray_e, rgba_e = _elements(load_folder(tmp_path, image_size=None, channels=3))  # natural order
    np.testing.assert_allclose(bw_e["images"], 1.0)  # 1-bit image, all white
    np.testing.assert_allclose(gray_e["images"], 128 / 255.0, atol=1e-6)
    np.testing.assert_allclose(rgba_e["images"][..., 0], 1.0)  # alpha dropped, colour kept
    np.testing.assert_allclose(rgba_e["images"][..., 1:], 0.0)
    gray1 = _elements(load_folder(tmp_path, image_size=None, channels=1))
    assert all(e["images"].shape == (6, 6, 1) for e in gray1)
    np.testing.assert_allclose(gray1[2]["images"], 0.299, atol=1e-6)  # luma of pure red


def test_jpeg_masks_with_threshold(tmp_path):
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 10:40] = 255
    (tmp_path / "masks").mkdir()
    Image.fromarray(mask).save(tmp_path / "masks" / "a.jpg", quality=60)
    _save(tmp_path / "images" / "a.jpg", np.full((64, 64, 3), 100, np.uint8))
    raw = np.asarray(Image.open(tmp_path / "masks" / "a.jpg"))
    assert len(np.unique(raw)) > 2  # compression noise is really there
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="threshold", threshold=127))
    ids = e["segmentation_masks"][..., 0]
    assert set(np.unique(ids)) == {0, 1}
    assert np.mean(ids != (mask > 0)) < 0.01
    # 'nonzero' would count the noise as foreground: an error that names the fix
    with pytest.raises(ValueError, match=r"a\.jpg' is a JPEG with compression noise .* use mask_mode='threshold'"):
        load_folder(tmp_path, image_size=None, mask_mode="nonzero")
    # a JPEG mask without noise (flat, all background) still loads with 'nonzero'
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "masks" / "a.jpg", quality=60)
    with pytest.warns(UserWarning, match="every mask is all background"):
        (clean,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="nonzero"))
    assert clean["segmentation_masks"].sum() == 0


def test_rgb_mask_converted_to_gray_for_nonzero_and_threshold(tmp_path):
    mask = np.zeros((6, 6, 3), np.uint8)
    mask[0, 0] = (0, 0, 1)  # nonzero, luma ~0.1
    mask[1, 1] = (255, 255, 255)
    mask[2, 2] = (200, 0, 0)  # luma ~60
    _save(tmp_path / "images" / "a.png", np.zeros((6, 6, 3), np.uint8))
    _save(tmp_path / "masks" / "a.png", mask)
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="nonzero"))
    assert set(zip(*np.nonzero(e["segmentation_masks"][..., 0]))) == {(0, 0), (1, 1), (2, 2)}
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="threshold", threshold=127))
    assert set(zip(*np.nonzero(e["segmentation_masks"][..., 0]))) == {(1, 1)}


def test_label_values_gray_and_rgb(tmp_path):
    rng = np.random.default_rng(5)
    gray = _mask(rng, 12, 12, values=(255, 0, 128))
    _save(tmp_path / "images" / "a.png", _image(rng, 12, 12))
    _save(tmp_path / "masks" / "a.png", gray)
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 128, 255]))
    expected = np.select([gray == 0, gray == 128, gray == 255], [0, 1, 2])
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], expected)
    # gray mask with RGB label values compares (g, g, g)
    gray_as_rgb = [(0, 0, 0), (128, 128, 128), (255, 255, 255)]
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="values", label_values=gray_as_rgb))
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], expected)

    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    ids = rng.integers(0, 3, size=(12, 12))
    _save(tmp_path / "masks" / "a.png", palette[ids])
    (e,) = _elements(
        load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[(0, 0, 0), (255, 0, 0), (0, 255, 0)])
    )
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], ids)
    # palette ("P") masks are compared by their colours
    palette_image = Image.fromarray(ids.astype(np.uint8), mode="P")
    palette_image.putpalette(palette.ravel().tolist())
    palette_image.save(tmp_path / "masks" / "a.png")
    assert Image.open(tmp_path / "masks" / "a.png").mode == "P"
    (e,) = _elements(
        load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[(0, 0, 0), (255, 0, 0), (0, 255, 0)])
    )
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], ids)
    # ... and by their palette indices with gray label values (PASCAL VOC style: index = class id)
    (e,) = _elements(load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 1, 2]))
    np.testing.assert_array_equal(e["segmentation_masks"][..., 0], ids)
    with pytest.raises(ValueError, match=r"a\.png.*values not in label_values: 1, 2"):
        load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 76, 150])
    # an RGB mask with gray label values is still an error that says how to give them
    _save(tmp_path / "masks" / "a.png", palette[ids])
    with pytest.raises(ValueError, match=r"a\.png.*colour.*RGB tuples"):
        load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 1, 2])


def test_label_values_unexpected_value_names_file_and_values(tmp_path):
    mask = np.zeros((8, 8), np.uint8)
    mask[0, :3] = (7, 9, 9)
    mask[5, 5] = 255
    _save(tmp_path / "images" / "m1.png", np.zeros((8, 8, 3), np.uint8))
    _save(tmp_path / "masks" / "m1.png", mask)
    with pytest.raises(ValueError) as info:
        load_folder(tmp_path, image_size=None, mask_mode="values", label_values=[0, 255])
    message = str(info.value)
    assert str(tmp_path / "masks" / "m1.png") in message
    assert "7, 9" in message and "3 pixel(s)" in message and "label_values=[0, 255]" in message


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"mask_mode": "values"}, "label_values is required"),
        ({"mask_mode": "values", "label_values": []}, "must not be empty"),
        ({"mask_mode": "values", "label_values": [0, (1, 2, 3)]}, "not a mix"),
        ({"mask_mode": "values", "label_values": [0, 0]}, "duplicate"),
        ({"mask_mode": "values", "label_values": [(1, 2)]}, "3 components"),
        ({"mask_mode": "values", "label_values": "0,255"}, "sequence"),
        ({"label_values": [0, 255]}, "only used with mask_mode='values'"),
        ({"mask_mode": "binary"}, "mask_mode must be one of"),
        ({"channels": 4}, "channels must be 1 or 3"),
        ({"on_error": "ignore"}, "on_error must be one of"),
        ({"image_size": (0, 10)}, "image_size"),
        ({"image_size": (10, 10, 3)}, "image_size"),
        ({"image_size": "big"}, "image_size"),
        ({"mask_mode": "threshold", "threshold": float("nan")}, "threshold"),
    ],
)
def test_argument_errors(tmp_path, kwargs, pattern):
    root = _make_folder(tmp_path, stems=("1",))
    with pytest.raises(ValueError, match=pattern):
        load_folder(root, **kwargs)


# --------------------------------------------------------------------------------------
# folder layout errors
# --------------------------------------------------------------------------------------


def test_missing_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_dir '.*nope' does not exist"):
        load_folder(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="not a directory"):
        find_pairs(tmp_path / "file.txt")


def test_missing_subfolders(tmp_path):
    (tmp_path / "masks").mkdir()
    with pytest.raises(FileNotFoundError, match=r"images_subdir: folder '.*images' not found"):
        load_folder(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").rmdir()
    with pytest.raises(FileNotFoundError, match=r"masks_subdir: folder '.*masks' not found.*\['images'\]"):
        load_folder(tmp_path)


def test_empty_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images found in '.*images'"):
        load_folder(tmp_path)


def test_unpaired_files(tmp_path, caplog):
    root = _make_folder(tmp_path, stems=("1", "2"))
    rng = np.random.default_rng(0)
    _save(root / "images" / "extra_img.png", _image(rng))
    _save(root / "masks" / "extra_mask.png", _mask(rng))
    with pytest.raises(ValueError) as info:
        find_pairs(root)
    message = str(info.value)
    assert "extra_img.png" in message and "without a mask" in message
    # no common '<image stem><suffix>' naming here: no mask_suffix hint, only how to skip
    assert "mask_suffix" not in message and "on_error='skip'" in message
    assert "extra_mask.png" in message and "without an image" in message
    with pytest.raises(ValueError, match="extra_img.png"):
        load_folder(root)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        pairs = find_pairs(root, allow_unpaired=True)
    assert [p[0].name for p in pairs] == ["1.png", "2.png"]
    assert "extra_img.png" in caplog.text and "extra_mask.png" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = load_folder(root, image_size=(8, 8), on_error="skip")
    assert int(ds.cardinality()) == 2
    assert "extra_img.png" in caplog.text


def test_mask_suffix_pairs_masks_named_after_their_image(tmp_path):
    # Many public datasets name masks '<image stem>_mask' (or '_anno', '_segmentation').
    rng = np.random.default_rng(0)
    masks = {}
    for stem in ("case2", "case10"):
        _save(tmp_path / "images" / f"{stem}.jpg", _image(rng))
        masks[stem] = _mask(rng)
        _save(tmp_path / "masks" / f"{stem}_mask.png", masks[stem])
    with pytest.raises(ValueError, match=r"look named '<image stem>_mask': pass mask_suffix='_mask'"):
        load_folder(tmp_path)
    pairs = find_pairs(tmp_path, mask_suffix="_mask")
    assert [(i.name, m.name) for i, m in pairs] == [("case2.jpg", "case2_mask.png"), ("case10.jpg", "case10_mask.png")]
    ds = load_folder(tmp_path, image_size=None, mask_suffix="_mask")
    got = [e["segmentation_masks"][..., 0] for e in ds.as_numpy_iterator()]
    np.testing.assert_array_equal(got[0], masks["case2"] > 0)
    np.testing.assert_array_equal(got[1], masks["case10"] > 0)


def test_mask_suffix_errors(tmp_path):
    root = _make_folder(tmp_path, stems=("1",))
    _save(root / "masks" / "1_mask.png", _mask(np.random.default_rng(1)))
    with pytest.raises(ValueError, match=r"two masks for the image stem '1'.*'1.png' and '1_mask.png'"):
        find_pairs(root, mask_suffix="_mask")
    with pytest.raises(TypeError, match="mask_suffix must be a string"):
        find_pairs(root, mask_suffix=None)


def test_only_unpaired_files(tmp_path):
    _save(tmp_path / "images" / "a.png", np.zeros((4, 4), np.uint8))
    _save(tmp_path / "masks" / "b.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="no image in .* has a mask"):
        find_pairs(tmp_path, allow_unpaired=True)


def test_duplicate_stems(tmp_path):
    root = _make_folder(tmp_path, stems=("1",))
    _save(root / "images" / "1.jpg", np.zeros((24, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"same stem '1'.*'1\.jpg' and '1\.png'"):
        find_pairs(root)


def test_size_mismatch_names_both_files(tmp_path, caplog):
    root = _make_folder(tmp_path, stems=("1", "2"))
    _save(root / "masks" / "2.png", np.zeros((20, 30), np.uint8))
    with pytest.raises(ValueError) as info:
        load_folder(root)
    message = str(info.value)
    assert str(root / "images" / "2.png") in message and str(root / "masks" / "2.png") in message
    assert "24x32" in message and "20x30" in message
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = load_folder(root, on_error="skip")
    assert int(ds.cardinality()) == 1
    assert "2.png" in caplog.text and "sizes differ" in caplog.text


# --------------------------------------------------------------------------------------
# corrupt files (fuzz)
# --------------------------------------------------------------------------------------


def _corruptions(good_png: bytes, good_jpeg: bytes, rng: np.random.Generator):
    """(name, suffix, bytes) of broken or oddly named copies of real image files."""
    n = len(good_png)
    yield "zero_bytes", ".png", b""
    for fraction in (0.02, 0.3, 0.6, 0.95):
        yield f"truncated_{fraction}", ".png", good_png[: int(n * fraction)]
    yield "truncated_jpeg", ".jpg", good_jpeg[: len(good_jpeg) // 2]
    yield "garbage", ".png", rng.integers(0, 256, size=n, dtype=np.uint8).tobytes()
    yield "garbage_tif", ".tif", b"II*\x00" + rng.integers(0, 256, size=200, dtype=np.uint8).tobytes()
    yield "text", ".bmp", b"this is not an image at all\n" * 20
    for i in range(3):
        flipped = bytearray(good_png)
        positions = rng.integers(8, n, size=4)
        for p in positions:
            flipped[p] ^= 0xFF
        yield f"bitflip_{i}", ".png", bytes(flipped)
    header_broken = bytearray(good_png)
    header_broken[1:4] = b"XYZ"
    yield "bad_magic", ".png", bytes(header_broken)
    yield "png_named_jpg", ".jpg", good_png  # wrong extension, valid content
    yield "jpeg_named_png", ".png", good_jpeg


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF/TIFF tags
def test_fuzz_corrupt_files_raise_clearly_or_skip(tmp_path, caplog):
    rng = np.random.default_rng(123)
    image, mask = _image(rng, 24, 32), _mask(rng, 24, 32)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    good_png = buffer.getvalue()
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG")
    good_jpeg = buffer.getvalue()

    mask_buffer = io.BytesIO()
    Image.fromarray(mask).save(mask_buffer, format="PNG")
    good_mask_png = mask_buffer.getvalue()

    outcomes = {"raised": 0, "loaded": 0}
    for case, (name, suffix, payload) in enumerate(_corruptions(good_png, good_jpeg, rng)):
        for broken_side in ("images", "masks"):
            root = _make_folder(tmp_path / f"{case}_{broken_side}", stems=("1", "2", "3"))
            bad = root / broken_side / f"bad{suffix}"
            bad.write_bytes(payload)
            other = root / ("masks" if broken_side == "images" else "images") / "bad.png"
            other.write_bytes(good_mask_png if broken_side == "images" else good_png)
            before = _snapshot(root)

            try:
                ds = load_folder(root, image_size=(16, 16))
            except ValueError as error:
                assert str(bad) in str(error), f"{name}/{broken_side}: message does not name the file: {error}"
                outcomes["raised"] += 1
            else:  # Pillow could decode it (wrong extension, harmless bit flip): still valid data
                assert int(ds.cardinality()) == 4, name
                for e in _elements(ds):
                    assert np.isfinite(e["images"]).all() and set(np.unique(e["segmentation_masks"])) <= {0, 1}
                outcomes["loaded"] += 1

            caplog.clear()
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                ds = load_folder(root, image_size=(16, 16), on_error="skip")
            count = int(ds.cardinality())
            assert count in (3, 4), name
            if count == 3:
                assert str(bad) in caplog.text and "skipping pair" in caplog.text, name
            assert _snapshot(root) == before, f"{name}: data folder was modified"
    assert outcomes["raised"] >= 10 and outcomes["loaded"] >= 2, outcomes


@pytest.mark.parametrize("side", ["images", "masks"])
def test_zero_byte_and_truncated_messages(tmp_path, side):
    root = _make_folder(tmp_path, stems=("1", "2"))
    target = root / side / "2.png"
    data = target.read_bytes()
    target.write_bytes(b"")
    kind = "image" if side == "images" else "mask"
    with pytest.raises(ValueError, match=rf"{kind} file '.*2\.png' is empty \(0 bytes\)"):
        load_folder(root)
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"cannot read {kind} file '.*2\.png'"):
        load_folder(root)


def test_skip_everything_bad_raises(tmp_path, caplog):
    root = _make_folder(tmp_path, stems=("1", "2"))
    for stem in ("1", "2"):
        (root / "images" / f"{stem}.png").write_bytes(b"broken")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with pytest.raises(ValueError, match=r"no usable image/mask pairs .* all 2 pair\(s\) were skipped"):
            load_folder(root, on_error="skip")
    assert "1.png" in caplog.text and "2.png" in caplog.text


def test_folder_unchanged_after_loading(tmp_path):
    root = _make_folder(tmp_path, stems=[str(i) for i in range(6)])
    _save(root / "images" / "x.tif", (np.ones((24, 32)) * 1000).astype(np.uint16))
    _save(root / "masks" / "x.jpg", np.zeros((24, 32), np.uint8))
    (root / "images" / "notes.txt").write_text("keep me")
    os.chmod(root / "images" / "1.png", 0o444)  # read-only files must load too
    before = _snapshot(root)
    listing = sorted(p.name for p in root.rglob("*"))
    for kwargs in ({}, {"image_size": None}, {"mask_mode": "threshold", "channels": 1}, {"on_error": "skip"}):
        _elements(load_folder(root, **kwargs))
    find_pairs(root)
    assert _snapshot(root) == before
    assert sorted(p.name for p in root.rglob("*")) == listing


# --------------------------------------------------------------------------------------
# real data
# --------------------------------------------------------------------------------------


def test_glas_train(glas_dir):
    before = {p.name: p.stat().st_mtime_ns for p in (glas_dir / "train" / "masks").iterdir()}
    ds = load_folder(glas_dir / "train", image_size=(128, 128))
    assert int(ds.cardinality()) == 85
    assert ds.element_spec["images"].shape == (128, 128, 3)
    masks = np.stack([e["segmentation_masks"] for e in _elements(ds)])
    assert set(np.unique(masks)) == {0, 1}
    foreground = float(masks.mean())
    assert 0.2 < foreground < 0.8, foreground
    assert {p.name: p.stat().st_mtime_ns for p in (glas_dir / "train" / "masks").iterdir()} == before

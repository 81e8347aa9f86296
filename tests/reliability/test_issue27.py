"""Issue 27, round 2 of bad input, concurrent runs and open ports (the cases outside the CLI's arguments).

One test (or two) per numbered case of the issue; docs/reliability.md maps each to its row.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_hsmix import HardMix, HSMix, HSMixModel, SoftMix
from keras_hsmix.data import load_folder, make_pipeline
from keras_hsmix.data.synthetic import make_synthetic_dataset
from keras_hsmix.distributed import service
from keras_hsmix.losses import DiceCELoss
from keras_hsmix.models import unet
from keras_hsmix.runs.lock import LOCK_NAME, RunFolderInUseError, RunLock, claim_run
from keras_hsmix.runs.records import finite_or_none, write_json
from keras_hsmix.runs.train import TrainConfig, evaluate, train
from keras_hsmix.training.guards import NonFiniteLossError


def _strict_loads(text: str):
    def refuse(name: str):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _pair_folder(root: Path, masks: list[np.ndarray], mask_name: str = "{}.png", fmt: str = "PNG",
                 sizes: list[tuple[int, int]] | None = None) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, mask in enumerate(masks):
        h, w = mask.shape
        Image.fromarray(np.full((h, w, 3), 90 + 10 * i, np.uint8)).save(root / "images" / f"{i}.png")
        buffer = io.BytesIO()
        Image.fromarray(mask).save(buffer, format=fmt, **({"quality": 75} if fmt == "JPEG" else {}))
        (root / "masks" / mask_name.format(i)).write_bytes(buffer.getvalue())
    return root


def _disk(size: int = 64, value: int = 255) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (size / 4) ** 2).astype(np.uint8) * value


# ---------------------------------------------------------------- 1
def test_jpeg_bytes_under_a_png_name_get_the_jpeg_noise_check(tmp_path):
    root = _pair_folder(tmp_path, [_disk()], mask_name="{}.png", fmt="JPEG")
    assert Image.open(root / "masks" / "0.png").format == "JPEG"
    with pytest.raises(ValueError, match=r"0\.png' is a JPEG \(JPEG data under a '\.png' name\) with compression noise"):
        load_folder(root, image_size=None, mask_mode="nonzero")
    (element,) = list(load_folder(root, image_size=None, mask_mode="threshold"))  # the remedy works
    assert abs(float(np.mean(element["segmentation_masks"].numpy() > 0)) - np.mean(_disk() > 0)) < 0.01


# ---------------------------------------------------------------- 2
def test_threshold_mode_on_0_1_masks_warns_naming_mask_mode_and_the_values(tmp_path):
    root = _pair_folder(tmp_path, [_disk(16, 1), _disk(16, 1)])
    with pytest.warns(UserWarning, match=r"every mask is all background .*mask_mode='threshold' with threshold=127"
                                         r".*values \[0, 1\].*mask_mode='nonzero'"):
        load_folder(root, image_size=None, mask_mode="threshold")


def test_undefined_metrics_are_null_with_a_reason_and_results_are_strict_json(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    model.layers[-1].set_weights([np.zeros((1, 1, 3, 2), "float32"), np.array([0.0, 1.0], "float32")])
    masks = np.zeros((3, 8, 8, 1), np.int32)  # every mask empty, the model predicts foreground everywhere
    result = evaluate(model, np.zeros((3, 8, 8, 3), "float32"), masks, batch_size=2)
    assert result["hd95"] is None
    assert "every ground-truth mask is empty" in result["undefined"]["hd95"]
    write_json(tmp_path / "r.json", {"validation": result})
    _strict_loads((tmp_path / "r.json").read_text())
    with pytest.raises(ValueError):
        write_json(tmp_path / "bad.json", {"hd95": float("nan")})  # never a bare NaN
    assert finite_or_none([float("inf"), 1.0]) == [None, 1.0]


@pytest.mark.eager
@pytest.mark.slow
def test_train_warns_on_empty_validation_masks_and_writes_strict_json(tmp_path):
    root = _pair_folder(tmp_path / "data", [_disk(32, 1) for _ in range(6)])
    config = TrainConfig(out=str(tmp_path / "run"), data=str(root), size=32, mask_mode="threshold", epochs=1,
                         batch_size=2, base_filters=4, depth=1, n_segments=(10, 20), mixing="none", export=False)
    with pytest.warns(UserWarning) as record:
        results = train(config, verbose=0)
    messages = [str(w.message) for w in record]
    assert any("every validation mask is empty" in m and "--mask-mode" in m for m in messages)
    assert any("every mask is all background" in m for m in messages)
    stored = _strict_loads((tmp_path / "run" / "results.json").read_text())
    assert stored["validation"]["hd95"] is None and "hd95" in stored["validation"]["undefined"]
    assert results["validation"]["hd95"] is None


# ---------------------------------------------------------------- 6
@pytest.mark.parametrize("layer_cls", [HardMix, SoftMix, HSMix])
def test_seeded_layers_document_that_a_parallel_map_is_not_repeatable(layer_cls):
    doc = " ".join((layer_cls.__doc__ or "").split() + (HardMix.__doc__ or "").split()
                   + (layer_cls.__mro__[1].__doc__ or "").split())
    assert "num_parallel_calls" in doc and "not** repeatable" in doc.replace("**not**", "not**")
    assert "Safe inside ``tf.data``." not in doc  # the unqualified promise is gone


def test_seeded_layer_in_a_sequential_map_repeats_with_fresh_layers():
    ds = make_synthetic_dataset(8, (24, 24), seed=1).batch(4)

    def run() -> list[np.ndarray]:
        mapped = ds.map(HSMix(num_classes=2, n_segments=10, seed=11))  # the documented repeatable form
        return [b["images"].numpy() for b in mapped]

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- 7
def _live_pid() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def test_run_lock_names_a_live_owner_and_takes_over_a_dead_one(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    other = _live_pid()
    try:
        (folder / LOCK_NAME).write_text(f"{socket.gethostname()} {other.pid}")
        with pytest.raises(RunFolderInUseError, match=rf"in use by process {other.pid} on host"):
            RunLock(folder).acquire()
    finally:
        other.kill()
        other.wait()
    with RunLock(folder):  # the owner is dead now: its stale lock is taken over
        assert claim_run(folder / LOCK_NAME) is False  # and held against everyone else
    assert not (folder / LOCK_NAME).exists()


def test_train_refuses_a_run_folder_owned_by_another_process_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    other = _live_pid()
    try:
        (out / LOCK_NAME).write_text(f"{socket.gethostname()} {other.pid}")
        config = TrainConfig(out=str(out), size=32, epochs=1, num_images=4, base_filters=4, depth=2)
        with pytest.raises(RunFolderInUseError, match=str(other.pid)):
            train(config, resume=True, verbose=0)
    finally:
        other.kill()
        other.wait()
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


# ---------------------------------------------------------------- 8
def test_resume_with_other_settings_refuses_before_writing(tmp_path):
    out = tmp_path / "run"
    (out / "backup").mkdir(parents=True)  # an unfinished run
    stored = TrainConfig(out=str(out), size=32, base_filters=8, depth=2)
    (out / "config.json").write_text(json.dumps(json.loads(json.dumps(stored.__dict__)), indent=2))
    before = (out / "config.json").read_bytes()
    changed = TrainConfig(out=str(out), size=32, base_filters=16, depth=2, epochs=7)
    with pytest.raises(ValueError, match=rf"other settings \(base_filters: stored 8, given 16, epochs: stored "
                                         rf"{stored.epochs}, given 7\)"):
        train(changed, resume=True, verbose=0)
    assert (out / "config.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["backup", "config.json"]


# ---------------------------------------------------------------- 11
def test_images_of_different_sizes_point_at_image_size(tmp_path):
    root = _pair_folder(tmp_path, [_disk(16), _disk(24), _disk(16)])
    ds = load_folder(root, image_size=None)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match=r"image_size=\(H, W\)"):
        pipeline = make_pipeline(ds, batch_size=2, n_segments=10, seed=0, drop_remainder=False)
        list(pipeline)
    same = load_folder(_pair_folder(tmp_path / "same", [_disk(16), _disk(16)]), image_size=None)
    images, _ = next(iter(make_pipeline(same, batch_size=2, n_segments=10, seed=0)))  # one size still batches
    assert images.shape == (2, 16, 16, 3)


# ---------------------------------------------------------------- 12
def test_service_says_where_it_really_listens_and_that_it_is_unauthenticated(capsys, monkeypatch):
    server = service.start_dispatcher(port=0)
    try:
        port = service.listening_port(server)
        notice = service.exposure_notice("dispatcher", server)
        assert notice.startswith(f"warning: the dispatcher listens on every network interface, IPv4 and IPv6 (*:{port})")
        assert "no authentication" in notice and "firewall" in notice
        monkeypatch.setattr(service, "start_dispatcher", lambda *a, **k: server)
        monkeypatch.setattr(server, "join", lambda: None)
        service.main(["dispatcher", "--port", "0"])
        printed = capsys.readouterr()
        assert printed.out.startswith(f"dispatcher listening on *:{port} (every network interface); clients on this "
                                      f"machine: grpc://localhost:{port}")
        assert "no authentication" in printed.err
    finally:
        server.stop()
    text = (Path(__file__).parents[2] / "docs" / "distributed.md").read_text()
    assert "Trust model" in text and "*:PORT" in text and "without authentication" in text


def _listening_hosts(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on ``port``."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                hosts.add(host)
    return hosts


@pytest.mark.skipif(not Path("/proc/net/tcp6").exists(), reason="reads Linux' /proc/net/tcp")
def test_the_dispatcher_really_listens_on_every_interface_as_printed():
    server = service.start_dispatcher(port=0)
    try:
        hosts = _listening_hosts(service.listening_port(server))
        assert hosts and all(set(h) == {"0"} for h in hosts)  # the wildcard (0.0.0.0 or [::]), not loopback
    finally:
        server.stop()


# ---------------------------------------------------------------- 13
def _tiny_fit(loss: keras.losses.Loss) -> keras.callbacks.History:
    model = HSMixModel(unet((32, 32, 3), num_classes=2, base_filters=4, depth=1), num_classes=2,
                       saliency="static", n_segments=10, seed=0)
    model.compile(optimizer="adam", loss=loss)
    ds = make_synthetic_dataset(4, (32, 32), seed=0).batch(4)
    return model.fit(ds, epochs=1, verbose=0)


@pytest.mark.eager
def test_package_model_and_loss_fit_together_at_their_defaults():
    history = _tiny_fit(DiceCELoss())
    assert np.isfinite(history.history["loss"]).all()


def test_non_finite_loss_stops_fit_naming_from_logits():
    class NanLoss(keras.losses.Loss):
        from_logits = False

        def call(self, y_true, y_pred):
            return keras.ops.mean(y_pred, axis=(1, 2, 3)) * np.float32("nan")

    with pytest.raises(NonFiniteLossError, match=r"NanLoss\(from_logits=False\).*from_logits=True"):
        _tiny_fit(NanLoss())


# ---------------------------------------------------------------- sweep: the same classes of fault elsewhere
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2\.5"),
        ({"batch_size": "2"}, r"batch_size must be an integer >= 1, got '2'"),
        ({"shuffle": -1}, r"shuffle must be an integer >= 1 \(0 or None for no shuffling\), got -1"),
        ({"cache": "/nonexistent-folder/cache"}, r"cache: the folder of the cache file '/nonexistent-folder/cache'"),
    ],
)
def test_make_pipeline_names_bad_arguments_before_tf_data_sees_them(kwargs, match):
    settings = {"batch_size": 2, "n_segments": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_pipeline(make_synthetic_dataset(4, (16, 16)), **settings)


@pytest.mark.parametrize("ids_shape", [(1, 4, 4), (1, 4, 4, 1)])
def test_dice_ce_loss_refuses_class_ids_beyond_its_channels(ids_shape):
    # 255-valued masks (or more classes than the model predicts) became all-zero one-hot targets without a word.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"DiceCELoss: class id >= 2, the number of prediction"):
        DiceCELoss()(np.full(ids_shape, 255), np.zeros((1, 4, 4, 2), "float32"))
    assert np.isfinite(float(DiceCELoss()(np.ones(ids_shape), np.zeros((1, 4, 4, 2), "float32"))))


def test_layer_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\], got 'a'"):
        HardMix(p="a")
    with pytest.raises(ValueError, match=r"compactness must be > 0, got -1"):
        HSMix(compactness=-1)


def test_worker_with_a_dispatcher_address_without_port_fails_instead_of_retrying_forever():
    with pytest.raises(ValueError, match=r"dispatcher_address must be 'host:port'.*got 'nohost'"):
        service.start_worker("nohost", port=0)
    assert service.check_address("grpc://localhost:5050", "dispatcher_address") == "localhost:5050"


@pytest.mark.eager
def test_cli_train_stops_on_a_non_finite_loss_with_the_cause(tmp_path, monkeypatch, capsys):
    from keras_hsmix.cli import main
    from keras_hsmix.runs import train as train_module

    class NanLoss(keras.losses.Loss):
        from_logits = False

        def call(self, y_true, y_pred):
            return keras.ops.mean(y_pred, axis=(1, 2, 3)) * np.float32("nan")

    monkeypatch.setattr(train_module, "DiceCELoss", lambda **kwargs: NanLoss())
    code = main(["train", "--out", str(tmp_path / "run"), "--size", "32", "--epochs", "1", "--num-images", "4",
                 "--batch-size", "2", "--base-filters", "4", "--depth", "1", "--n-segments", "10", "--mixing", "none",
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "keras-hsmix train: error: training loss is nan" in err and "from_logits" in err
    assert not (tmp_path / "run" / LOCK_NAME).exists()  # the lock is released on the way out

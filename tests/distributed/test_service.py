"""tf.data service: superpixels saved once, pure-TF pipeline on workers in other processes."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HardMix, HSMix, SoftMix, static_saliency
from keras_hsmix.data import make_pipeline, make_synthetic_dataset
from keras_hsmix.distributed import (
    distributed_pipeline,
    load_with_superpixels,
    python_ops,
    save_with_superpixels,
    start_dispatcher,
    worker_pipeline,
)
from keras_hsmix.distributed.service import listening_port
from tests.helpers import random_batch

NUM = 10
SIZE = 32


def indexed_dataset(saliency: bool = False) -> tf.data.Dataset:
    ds = make_synthetic_dataset(NUM, (SIZE, SIZE), seed=3)

    def add(index: tf.Tensor, element: dict) -> dict:
        out = {**element, "index": index}
        if saliency:
            out["saliency"] = static_saliency(element["images"][tf.newaxis])[0]
        return out

    return ds.enumerate().map(add)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("saved") / "sp"
    save_with_superpixels(indexed_dataset(saliency=True), path, n_segments=16, num_shards=4)
    return str(path)


def check_batch(batch: dict, max_batch: int) -> None:
    assert set(batch) == {"images", "segmentation_masks", "superpixels", "saliency", "index"}
    b = int(batch["images"].shape[0])
    assert 1 <= b <= max_batch
    assert batch["images"].dtype == tf.float32 and batch["images"].shape == (b, SIZE, SIZE, 3)
    assert batch["segmentation_masks"].dtype == tf.float32
    assert batch["segmentation_masks"].shape == (b, SIZE, SIZE, 2)
    np.testing.assert_allclose(batch["segmentation_masks"].numpy().sum(-1), 1.0, atol=1e-5)
    assert batch["superpixels"].dtype == tf.int32 and batch["superpixels"].shape == (b, SIZE, SIZE)
    assert batch["superpixels"].numpy().min() >= 0
    assert batch["saliency"].dtype == tf.float32 and batch["saliency"].shape == (b, SIZE, SIZE)
    assert batch["index"].dtype == tf.int64


def test_save_and_load_keep_values_dtypes_and_shapes(saved: str) -> None:
    source = {int(e["index"]): e for e in indexed_dataset(saliency=True)}
    loaded = list(load_with_superpixels(saved))
    assert sorted(int(e["index"]) for e in loaded) == list(range(NUM))
    for element in loaded:
        original = source[int(element["index"])]
        assert element["superpixels"].dtype == tf.int32 and element["superpixels"].shape == (SIZE, SIZE)
        for key in ("images", "segmentation_masks", "saliency"):
            assert element[key].dtype == original[key].dtype
            np.testing.assert_array_equal(element[key].numpy(), original[key].numpy())


@pytest.mark.parametrize(
    "layer",
    [
        HardMix(num_classes=3, seed=0),
        SoftMix(num_classes=3, saliency="random", seed=0),
        SoftMix(num_classes=3, saliency="static", seed=0),
        HSMix(num_classes=3, saliency="random", seed=0),
        HSMix(num_classes=3, saliency="static", mode="concat", seed=0),
    ],
    ids=["hard", "soft-random", "soft-static", "hsmix-random", "hsmix-static-concat"],
)
@pytest.mark.parametrize("given_saliency", [False, True])
def test_mixing_with_given_superpixels_has_no_python_ops(layer, given_saliency: bool) -> None:
    batch = random_batch(num_classes=3)
    if given_saliency:
        batch["saliency"] = np.random.default_rng(0).random(batch["superpixels"].shape).astype("float32")
    ds = tf.data.Dataset.from_tensors(batch).map(layer)
    assert python_ops(ds) == []
    next(iter(ds))


def test_slic_in_the_pipeline_is_found() -> None:
    ds = make_pipeline(make_synthetic_dataset(4, (SIZE, SIZE)), batch_size=2, n_segments=10, cache=False)
    assert python_ops(ds) != []


def test_worker_pipeline_locally(saved: str) -> None:
    ds = worker_pipeline(saved, batch_size=4, num_classes=2, drop_remainder=False, seed=1)
    batches = list(ds)
    for batch in batches:
        check_batch(batch, 4)
    assert sorted(np.concatenate([b["index"].numpy() for b in batches]).tolist()) == list(range(NUM))
    images, masks = next(iter(worker_pipeline(saved, batch_size=4, output="tuple")))
    assert images.shape == (4, SIZE, SIZE, 3) and masks.shape == (4, SIZE, SIZE, 2)
    with pytest.raises(ValueError, match="the worker pipeline builds channels-last batches"):
        worker_pipeline(saved, batch_size=4, mixer=HardMix(num_classes=2, data_format="channels_first"))



def test_worker_pipeline_with_a_seed_repeats_exactly(saved: str) -> None:
    # Files, shuffles, flips and mixes are all drawn from the seed: the order in which parallel reads and
    # maps happen to run must not change a seeded job.
    def images(seed: int) -> list[np.ndarray]:
        return [b["images"].numpy() for b in worker_pipeline(saved, batch_size=4, num_classes=2, seed=seed)]

    first, again, other = images(1), images(1), images(2)
    assert len(first) == len(again) > 1
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))

# ------------------------------------------------------------------ service
@pytest.fixture
def service(processes) -> Iterator[str]:
    """2 workers, each a separate process started by the command line, and their dispatcher, started in this
    process (its command line is tested in tests/reliability/test_issue27.py); yields the dispatcher address."""
    dispatcher = start_dispatcher(port=0)
    try:
        address = f"localhost:{listening_port(dispatcher)}"
        module = "keras_hsmix.distributed.service"
        workers = [processes.start(["-m", module, "worker", "--dispatcher", address, "--port", "0"])
                   for _ in range(2)]
        for worker in workers:
            read_line(worker, "worker registered")
        yield address
    finally:
        processes.close()  # the workers go first: they call the dispatcher until they stop
        dispatcher.stop()


def read_line(proc, prefix: str) -> str:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    raise AssertionError(f"process exited ({proc.wait()}) before printing {prefix!r}:\n{''.join(lines)}")


def collect(ds: tf.data.Dataset, max_batch: int) -> dict[int, list[np.ndarray]]:
    images: dict[int, list[np.ndarray]] = {}
    for batch in ds:
        check_batch(batch, max_batch)
        for index, image in zip(batch["index"].numpy(), batch["images"].numpy()):
            images.setdefault(int(index), []).append(image)
    return images


@pytest.mark.slow
def test_service_with_two_worker_processes(service: str, saved: str) -> None:
    layer = HSMix(num_classes=2, saliency="random", p=0.5)
    ds = distributed_pipeline(saved, service, batch_size=4, num_classes=2, mixer=layer, drop_remainder=False)
    first = collect(ds, 4)
    assert sorted(first) == list(range(NUM)) and all(len(v) == 1 for v in first.values())
    # A second epoch is a new job: fresh shuffles, flips and mixes on the workers.
    second = collect(ds, 4)
    assert sorted(second) == list(range(NUM))
    assert any(not np.array_equal(first[i][0], second[i][0]) for i in range(NUM))

    # parallel_epochs: each worker makes a whole epoch; static saliency from the saved key.
    soft = SoftMix(num_classes=2, saliency="static")
    ds = distributed_pipeline(saved, service, batch_size=3, mixer=soft, processing_mode="parallel_epochs",
                              drop_remainder=False)
    both = collect(ds, 3)
    assert sorted(both) == list(range(NUM)) and all(len(v) == 2 for v in both.values())

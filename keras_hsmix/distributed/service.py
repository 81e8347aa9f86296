"""HSMix preprocessing on ``tf.data`` service workers (other processes, other machines).

A ``tf.data`` service worker runs the dataset graph it receives from the client,
in its own process, so a ``tf.numpy_function`` (the Python SLIC of
:func:`keras_hsmix.slic_superpixels`) cannot run there: it fails with "Error in
user-defined function passed to MapDataset". Workers in the *same* process as
the client hide this, so test with separate processes.

The SLIC step therefore reaches the workers as data:

1. :func:`save_with_superpixels` runs SLIC once, on one machine, and writes
   the images, masks and superpixel ids as TFRecord shards (plus a small
   ``spec.json``) to storage every worker can read;
2. :func:`distributed_pipeline` builds the rest in pure TensorFlow and hands
   it to the dispatcher: read and decode the shards, shuffle, flip/rotate image,
   mask and superpixels alike (:func:`keras_hsmix.data.random_flip_rotate`),
   batch, mix with the given superpixels (:class:`keras_hsmix.HSMix`,
   ``HardMix`` or ``SoftMix``; static saliency and ``saliency="random"`` are
   TensorFlow ops), and make the masks one-hot. The pipeline is checked for
   Python ops before it is sent (:func:`python_ops`).

Start the dispatcher and the workers, on any machines, with::

    python -m keras_hsmix.distributed.service dispatcher --port 5050
    python -m keras_hsmix.distributed.service worker --dispatcher HOST:5050 --port 5051

and in the training script::

    from keras_hsmix.distributed import distributed_pipeline, save_with_superpixels

    save_with_superpixels(load_folder("glas/train"), "/shared/glas_sp", n_segments=300)  # once
    train = distributed_pipeline("/shared/glas_sp", "HOST:5050", batch_size=8, num_classes=2,
                                 output="tuple", repeat=True)
    model.fit(train, epochs=50, steps_per_epoch=100)

See ``docs/distributed.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_hsmix.data.pipeline import add_superpixels, augment_elements, batch_and_mix, finalize
from keras_hsmix.distributed.servers import (  # noqa: F401  (start_* are public here too)
    BIND_HOST,
    check_address,
    exposure_notice,
    listening_port,
    start_dispatcher,
    start_worker,
)
from keras_hsmix.layers.base import IMAGES, MASKS, SUPERPIXELS, BaseMix, require_channels_last
from keras_hsmix.layers.hsmix import HSMix
from keras_hsmix.ops.superpixels import DEFAULT_N_SEGMENTS

__all__ = [
    "PROCESSING_MODES",
    "SPEC_FILE",
    "distributed_pipeline",
    "load_with_superpixels",
    "python_ops",
    "save_with_superpixels",
    "start_dispatcher",
    "start_worker",
    "worker_pipeline",
]

SPEC_FILE = "spec.json"
PROCESSING_MODES = ("distributed_epoch", "parallel_epochs")
# Ops that call back into the Python interpreter of the process that built the graph.
_PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
_INT32_MAX = 2**31 - 1


# ---------------------------------------------------------------- writing
def _encode(element: dict) -> bytes:
    feature = {
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.serialize_tensor(value).numpy()]))
        for key, value in element.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def save_with_superpixels(
    dataset: tf.data.Dataset,
    path: str | os.PathLike[str],
    n_segments: int | Sequence[int] = DEFAULT_N_SEGMENTS,
    compactness: float = 10.0,
    seed: int = 0,
    num_shards: int = 4,
    num_parallel_calls: int | None = None,
    compression: str | None = "GZIP",
) -> dict:
    """Runs SLIC once per image and writes the elements, superpixels included, for the workers.

    Elements of ``dataset`` are unbatched dicts (``images``, ``segmentation_masks``,
    and any other tensors, e.g. an index), as made by
    :func:`keras_hsmix.data.load_folder` or :func:`keras_hsmix.data.make_synthetic_dataset`;
    a ``superpixels`` key already present is kept (SLIC is then skipped).
    ``path`` gets ``num_shards`` TFRecord files (elements dealt round-robin,
    dtypes and shapes kept exactly: superpixel ids stay int32) and ``spec.json``.
    Put it on storage that every ``tf.data`` service worker reads (NFS, GCS, ...).

    Args:
        dataset: unbatched elements.
        path: output folder (created; existing shards in it are replaced).
        n_segments, compactness, seed: SLIC settings, as in :func:`keras_hsmix.data.add_superpixels`.
        num_shards: number of files; with ``processing_mode="distributed_epoch"``
            the dispatcher hands files to workers, so use at least as many as workers.
        num_parallel_calls: SLIC calls side by side (default one per core).
        compression: ``"GZIP"``, ``"ZLIB"`` or ``None``.

    Returns:
        The spec written to ``spec.json``: ``{"keys": {key: {"dtype", "shape"}}, "num_elements",
        "files", "compression"}``.

    Example:
        >>> import tempfile
        >>> from keras_hsmix.data import make_synthetic_dataset
        >>> spec = save_with_superpixels(make_synthetic_dataset(4, (32, 32)), tempfile.mkdtemp(),
        ...                              n_segments=20, num_shards=2)
        >>> spec["num_elements"], spec["keys"]["superpixels"]
        (4, {'dtype': 'int32', 'shape': [32, 32]})
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if compression not in (None, "GZIP", "ZLIB"):
        raise ValueError(f"compression must be 'GZIP', 'ZLIB' or None, got {compression!r}")
    spec = dataset.element_spec
    if not isinstance(spec, dict) or IMAGES not in spec or MASKS not in spec:
        raise ValueError(f"dataset elements must be dicts with '{IMAGES}' and '{MASKS}', got {spec}")
    if spec[IMAGES].shape.rank != 3:
        raise ValueError(f"dataset must be unbatched ({IMAGES} [H, W, C]), got shape {spec[IMAGES].shape}")
    if SUPERPIXELS not in spec:
        dataset = add_superpixels(dataset, n_segments, compactness, seed, num_parallel_calls, cache=False)
    spec = dataset.element_spec
    for key, value in spec.items():
        if not isinstance(value, tf.TensorSpec):
            raise TypeError(f"{key}: only dense tensors can be saved, got {value}")

    folder = os.fspath(path)
    tf.io.gfile.makedirs(folder)
    for old in tf.io.gfile.glob(os.path.join(folder, "shard-*.tfrecord")):
        tf.io.gfile.remove(old)
    files = [f"shard-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    options = tf.io.TFRecordOptions(compression_type=compression or "")
    writers = [tf.io.TFRecordWriter(os.path.join(folder, name), options) for name in files]
    count = 0
    try:
        for element in dataset:
            writers[count % num_shards].write(_encode(element))
            count += 1
    finally:
        for writer in writers:
            writer.close()
    if count == 0:
        raise ValueError("dataset is empty: nothing to save")
    written = {
        "keys": {key: {"dtype": value.dtype.name, "shape": value.shape.as_list()} for key, value in spec.items()},
        "num_elements": count,
        "files": files,
        "compression": compression,
    }
    with tf.io.gfile.GFile(os.path.join(folder, SPEC_FILE), "w") as handle:
        handle.write(json.dumps(written, indent=2))
    return written


def _read_spec(path: str) -> dict:
    spec_path = os.path.join(path, SPEC_FILE)
    if not tf.io.gfile.exists(spec_path):
        raise FileNotFoundError(f"{spec_path} not found: write the dataset with save_with_superpixels first")
    with tf.io.gfile.GFile(spec_path) as handle:
        return json.loads(handle.read())


# ---------------------------------------------------------------- reading
def load_with_superpixels(
    path: str | os.PathLike[str],
    shuffle_files: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Reads what :func:`save_with_superpixels` wrote, in pure TensorFlow ops.

    The source is a dataset of file names (splittable, so the ``tf.data``
    service can deal files to workers); records are parsed back to the saved
    dtypes and shapes.

    Example:
        >>> import tempfile
        >>> from keras_hsmix.data import make_synthetic_dataset
        >>> folder = tempfile.mkdtemp()
        >>> _ = save_with_superpixels(make_synthetic_dataset(2, (32, 32)), folder, n_segments=20)
        >>> element = next(iter(load_with_superpixels(folder)))
        >>> element["superpixels"].dtype.name, element["images"].shape
        ('int32', TensorShape([32, 32, 3]))
    """
    folder = os.fspath(path)
    spec = _read_spec(folder)
    keys = spec["keys"]
    files = [os.path.join(folder, name) for name in spec["files"]]
    compression = spec["compression"] or ""
    features = {key: tf.io.FixedLenFeature([], tf.string) for key in keys}

    def parse(record: tf.Tensor) -> dict:
        parsed = tf.io.parse_single_example(record, features)
        out = {}
        for key, info in keys.items():
            value = tf.io.parse_tensor(parsed[key], out_type=tf.dtypes.as_dtype(info["dtype"]))
            out[key] = tf.ensure_shape(value, info["shape"])
        return out

    names = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        names = names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = names.interleave(
        lambda name: tf.data.TFRecordDataset(name, compression_type=compression),
        cycle_length=min(len(files), 4),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None or not shuffle_files,  # a seed asks for a repeatable order
    )
    return records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def python_ops(dataset: tf.data.Dataset) -> list[str]:
    """Names of the ops of ``dataset``'s graph that call back into Python (``tf.numpy_function``, ...).

    Such a pipeline cannot run on a ``tf.data`` service worker in another
    process; an empty list means it can.

    Example:
        >>> import numpy as np
        >>> python_ops(tf.data.Dataset.range(3).map(lambda x: x + 1))
        []
        >>> def negate(x):
        ...     return tf.numpy_function(np.negative, [x], tf.int64)
        >>> python_ops(tf.data.Dataset.range(3).map(negate))
        ['PyFunc']
    """
    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(tf.raw_ops.DatasetToGraphV2(input_dataset=tf.data.experimental.to_variant(dataset)).numpy())
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    return sorted({node.op for node in nodes if node.op in _PYTHON_OPS})


# --------------------------------------------------------------- pipeline
def _mixer(mixer: BaseMix | str | None, num_classes: int | None, seed: int | None) -> BaseMix | None:
    if mixer == "hsmix":
        return HSMix(num_classes=num_classes, seed=seed, data_format="channels_last")
    require_channels_last(mixer, "the worker pipeline")
    if mixer is None or isinstance(mixer, BaseMix):
        return mixer
    raise TypeError(f"mixer must be 'hsmix', a HardMix/SoftMix/HSMix layer or None, got {mixer!r}")


def worker_pipeline(
    path: str | os.PathLike[str],
    batch_size: int,
    num_classes: int | None = 2,
    mixer: BaseMix | str | None = "hsmix",
    augment: bool = True,
    shuffle: int | None = 256,
    repeat: bool = False,
    seed: int | None = None,
    output: str = "dict",
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """The pure-TensorFlow pipeline the workers run, without the ``tf.data`` service.

    read (:func:`load_with_superpixels`) -> shuffle -> flip/rotate image, mask and
    superpixels alike -> (repeat) -> batch -> mix with the saved superpixels -> one-hot masks.
    Raises ``ValueError`` if any op of it would call Python (e.g. a mixing layer
    without superpixels would run SLIC).

    Randomness: the mixing layer draws from a seed that is itself drawn per
    batch in the graph, so every worker and every epoch (each iteration is a new
    ``tf.data`` service job) gets fresh shuffles, flips and mixes. A ``seed``
    makes one iteration reproducible, but then every worker and every job
    repeats the same draws; leave it ``None`` for training.

    Args:
        path: folder written by :func:`save_with_superpixels`.
        batch_size: batch size (mixing pairs samples within a batch).
        num_classes: number of classes of class-id masks (``None`` for float masks).
        mixer: ``"hsmix"`` (``HSMix(num_classes=...)``), a ``HardMix`` / ``SoftMix`` /
            ``HSMix`` layer (``SoftMix`` with ``saliency="static"`` or ``"random"``,
            or with a saved ``"saliency"`` key), or ``None`` for no mixing, e.g.
            when :class:`keras_hsmix.HSMixModel` mixes in its ``train_step``.
        augment: random flips and 90° rotations (square images).
        shuffle: shuffle buffer (``None``: keep the file order).
        repeat: repeat forever (use with ``steps_per_epoch``).
        seed: see above.
        output: ``"dict"`` (all keys, superpixels included) or ``"tuple"``
            ``(images, soft masks)`` for ``model.fit``.
        drop_remainder: drop a last, smaller batch.

    Example:
        >>> import tempfile
        >>> from keras_hsmix.data import make_synthetic_dataset
        >>> folder = tempfile.mkdtemp()
        >>> _ = save_with_superpixels(make_synthetic_dataset(8, (32, 32)), folder, n_segments=20)
        >>> batch = next(iter(worker_pipeline(folder, batch_size=4)))
        >>> batch["segmentation_masks"].shape, batch["superpixels"].dtype.name
        (TensorShape([4, 32, 32, 2]), 'int32')
    """
    if output not in ("dict", "tuple"):
        raise ValueError(f"output must be 'dict' or 'tuple', got {output!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    layer = _mixer(mixer, num_classes, seed)
    ds = load_with_superpixels(path, shuffle_files=bool(shuffle), seed=seed)
    if shuffle:
        ds = ds.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    # Stateless per-element keys from a Dataset.random stream: with a seed, a job repeats exactly whatever
    # order the parallel map runs in; without one, each job draws fresh (as the mixing below).
    ds = augment_elements(ds, seed, flips=augment)
    if repeat:
        ds = ds.repeat()
    if layer is None:
        mix = None
    else:
        # The layer's own SeedGenerator would be serialised with its value at
        # registration, so every job would replay the same draws: reseed a
        # generator from a per-batch draw instead (fresh per job unless `seed`).
        generator = keras.random.SeedGenerator(0 if seed is None else seed)

        @tf.autograph.experimental.do_not_convert  # the layers use graph ops, as in Keras' own call
        def mix(batch: dict) -> dict:
            draw = tf.random.uniform([], maxval=_INT32_MAX, dtype=tf.int32, seed=seed)
            generator.state.assign(tf.cast(tf.stack([draw, 0]), generator.state.dtype))
            out = layer.mix(batch, seed=generator)
            return {key: out[key] for key in batch}

    # Sequential: the generator is reseeded per batch.
    ds = finalize(batch_and_mix(ds, batch_size, mix, num_classes, drop_remainder, ordered=True), output)
    found = python_ops(ds)
    if found:
        raise ValueError(
            f"the worker pipeline calls Python ({', '.join(found)}), which a tf.data service worker in another "
            "process cannot run; save the superpixels with save_with_superpixels and use a mixer that needs "
            "no SLIC"
        )
    return ds


def _grpc(address: str) -> str:
    address = str(address)
    return address if "://" in address else f"grpc://{address}"


def distributed_pipeline(
    path: str | os.PathLike[str],
    dispatcher_address: str,
    batch_size: int,
    num_classes: int | None = 2,
    mixer: BaseMix | str | None = "hsmix",
    processing_mode: str = "distributed_epoch",
    job_name: str | None = None,
    **kwargs: Any,
) -> tf.data.Dataset:
    """:func:`worker_pipeline` run on the ``tf.data`` service workers of ``dispatcher_address``.

    Args:
        path: folder written by :func:`save_with_superpixels`, readable by every worker.
        dispatcher_address: ``"host:port"`` (or ``"grpc://host:port"``) of the dispatcher.
        batch_size, num_classes, mixer: as in :func:`worker_pipeline`.
        processing_mode: ``"distributed_epoch"`` (default: the dispatcher deals the
            shard files to the workers, each element comes once per epoch) or
            ``"parallel_epochs"`` (every worker produces a whole epoch, so one
            iteration yields ``num_workers`` epochs).
        job_name: share one job between several clients (e.g. the trainers of a
            multi-worker job); ``None`` gives each iteration its own job.
        **kwargs: ``augment``, ``shuffle``, ``repeat``, ``seed``, ``output``,
            ``drop_remainder`` of :func:`worker_pipeline`.

    Example:
        >>> train = distributed_pipeline("/shared/glas_sp", "dispatcher-host:5050",  # doctest: +SKIP
        ...                              batch_size=8, output="tuple", repeat=True)
        >>> model.fit(train, epochs=50, steps_per_epoch=100)                          # doctest: +SKIP
    """
    if processing_mode not in PROCESSING_MODES:
        raise ValueError(f"processing_mode must be one of {PROCESSING_MODES}, got {processing_mode!r}")
    ds = worker_pipeline(path, batch_size, num_classes, mixer, **kwargs)
    ds = ds.apply(
        tf.data.experimental.service.distribute(
            processing_mode, _grpc(check_address(dispatcher_address, "dispatcher_address")), job_name=job_name
        )
    )
    return ds.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- servers (in servers.py)
def main(argv: Sequence[str] | None = None) -> None:
    """``python -m keras_hsmix.distributed.service dispatcher|worker ...``: run a server until killed."""
    parser = argparse.ArgumentParser(prog="python -m keras_hsmix.distributed.service", description=main.__doc__)
    sub = parser.add_subparsers(dest="role", required=True)
    dispatcher = sub.add_parser("dispatcher", help="run the tf.data service dispatcher")
    dispatcher.add_argument("--port", type=int, default=5050, help="port (0: any free port; default 5050)")
    dispatcher.add_argument("--work-dir", default=None, help="shared folder for fault-tolerant state")
    worker = sub.add_parser("worker", help="run a tf.data service worker")
    worker.add_argument("--dispatcher", required=True, help="dispatcher HOST:PORT")
    worker.add_argument("--port", type=int, default=5051, help="port (0: any free port; default 5051)")
    worker.add_argument("--worker-address", default=None,
                        help="address clients use for this worker, e.g. myhost:%%port%% (default localhost:%%port%%)")
    args = parser.parse_args(argv)
    if args.role == "dispatcher":
        server = start_dispatcher(args.port, args.work_dir, fault_tolerant_mode=args.work_dir is not None)
        port = listening_port(server)
        # TensorFlow's target says localhost, but the server listens on every interface: say both.
        print(f"dispatcher listening on {BIND_HOST}:{port} (every network interface); clients on this machine: "
              f"grpc://localhost:{port}", flush=True)
        print(exposure_notice("dispatcher", server), file=sys.stderr, flush=True)
    else:
        server = start_worker(args.dispatcher, args.port, args.worker_address)
        print(f"worker registered with dispatcher {args.dispatcher}; listening on {BIND_HOST}:"
              f"{listening_port(server)} (every network interface)", flush=True)
        print(exposure_notice("worker", server), file=sys.stderr, flush=True)
    try:
        server.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

"""Multi-machine training of an :class:`~keras_hsmix.HSMixModel` with a custom ``strategy.run`` loop.

Keras 3's ``model.fit`` fails under ``tf.distribute.MultiWorkerMirroredStrategy``
(https://github.com/keras-team/keras/issues/20585: "Attempt to convert a value
(PerReplica...) with an unsupported type to a Tensor", reproduced with Keras 3.15
and TensorFlow 2.21). A hand-written loop with ``strategy.run`` works, so this
module provides one. Each step runs the model's own ``train_step`` (the very
method ``fit`` calls: HSMix mixing, Grad-CAM saliency, forward pass, loss,
``optimizer.apply``, metrics) inside ``strategy.run``; nothing of it is copied.

Each worker process runs the same script with its own ``TF_CONFIG``::

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}' python train.py

and in ``train.py``::

    from keras_hsmix.distributed import train_multi_worker

    history = train_multi_worker(build_model, dataset_fn, epochs=10, steps_per_epoch=100,
                                 checkpoint_dir="/shared/run1/checkpoints")

Worker 0 is the chief: it prints progress and metrics and writes the
checkpoints to ``checkpoint_dir``; the other workers write theirs to a
temporary folder inside it, removed after each save (every worker must take
part in a save, because saving reads distributed variables). A restarted job
resumes from the latest checkpoint in ``checkpoint_dir``.

When Keras fixes ``fit`` under ``MultiWorkerMirroredStrategy``, the same model
trains with ``model.fit(dataset, epochs=..., callbacks=[keras.callbacks.BackupAndRestore(...)])``
inside ``strategy.scope()``; see ``docs/distributed.md``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "checkpoint_directory",
    "is_chief",
    "make_strategy",
    "replica_local_variables",
    "train_multi_worker",
]

_IMPLEMENTATIONS = {
    "auto": tf.distribute.experimental.CommunicationImplementation.AUTO,
    "ring": tf.distribute.experimental.CommunicationImplementation.RING,
    "nccl": tf.distribute.experimental.CommunicationImplementation.NCCL,
}


def make_strategy(communication: str = "auto") -> tf.distribute.MultiWorkerMirroredStrategy:
    """``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (one local worker when it is unset).

    Create it at the very start of the program, before any other TensorFlow
    call, as TensorFlow requires.

    Args:
        communication: collective implementation, ``"auto"``, ``"ring"`` (gRPC,
            CPU) or ``"nccl"`` (GPUs).

    Example:
        >>> strategy = make_strategy()            # doctest: +SKIP
        >>> strategy.num_replicas_in_sync         # doctest: +SKIP
        2
    """
    if communication not in _IMPLEMENTATIONS:
        raise ValueError(f"communication must be one of {sorted(_IMPLEMENTATIONS)}, got {communication!r}")
    options = tf.distribute.experimental.CommunicationOptions(implementation=_IMPLEMENTATIONS[communication])
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def _task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process is the chief: task ``chief``, or worker 0 when there is no chief.

    Example:
        >>> is_chief(tf.distribute.get_strategy())
        True
    """
    task_type, task_id = _task(strategy)
    if task_type is None or task_type == "chief":
        return True
    resolver = strategy.cluster_resolver
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def checkpoint_directory(base: str | os.PathLike[str], strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes its checkpoints: ``base`` on the chief, ``base/workertemp_<id>`` elsewhere.

    Example:
        >>> checkpoint_directory("/tmp/ckpt", tf.distribute.get_strategy())
        '/tmp/ckpt'
    """
    base = os.fspath(base)
    if is_chief(strategy):
        return base
    _, task_id = _task(strategy)
    return os.path.join(base, f"workertemp_{task_id}")


def _check_compiled(model: keras.Model) -> None:
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
        raise ValueError(
            "build_model must return a compiled model (model.compile(optimizer=..., loss=...)); "
            "it is called inside strategy.scope()"
        )


def replica_local_variables(model: keras.Model) -> list:
    """The model's float, non-trainable variables that each replica updates on its own.

    Keras 3 creates ``BatchNormalization``'s moving mean and variance with
    ``aggregation="none"``: under a ``tf.distribute`` strategy every replica
    updates its own copy from its own batch, so the workers drift apart.
    :func:`train_multi_worker` averages these variables over the replicas after
    every step (what Keras 2's ``aggregation=MEAN`` did), so that all workers
    hold, checkpoint and export the same model.

    Example:
        >>> from keras_hsmix.models import unet
        >>> sorted({v.name for v in replica_local_variables(unet((32, 32, 3), 2, base_filters=4, depth=1))})
        ['moving_mean', 'moving_variance']
    """
    return [
        v
        for v in model.non_trainable_variables
        if getattr(v, "aggregation", "none") == "none" and tf.as_dtype(v.dtype).is_floating
    ]


def train_multi_worker(
    build_model: Callable[[], keras.Model],
    dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
    epochs: int,
    steps_per_epoch: int,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    strategy: tf.distribute.Strategy | None = None,
    max_to_keep: int = 3,
    checkpoint_every: int | None = None,
    log_every: int | None = None,
    log: Callable[[str], None] | None = print,
) -> tuple[keras.Model, list[dict[str, float]]]:
    """Trains ``build_model()`` on all workers, calling ``model.train_step`` inside ``strategy.run``.

    Every worker runs this function with the same arguments. Each step is
    ``strategy.run(model.train_step, args=(batch,))`` in a ``tf.function``:
    the model's own step (for :class:`~keras_hsmix.HSMixModel`: HSMix with
    Grad-CAM, forward, loss, ``optimizer.apply`` with gradients summed over
    the replicas, metrics), the one ``fit`` calls. The logged metrics are the
    replicas' values averaged with ``strategy.reduce(ReduceOp.MEAN, ...)``;
    the replica-local variables (BatchNormalization's moving statistics, see
    :func:`replica_local_variables`) are averaged over the replicas after each step.

    Args:
        build_model: returns a compiled model (e.g. an :class:`~keras_hsmix.HSMixModel`);
            called inside ``strategy.scope()``, so its weights, optimizer and
            metrics are distributed variables. The optimizer is then built from
            the trainable variables, before the first ``strategy.run``.
        dataset_fn: ``f(input_context) -> tf.data.Dataset`` of *per-replica*
            batches (use ``input_context.get_per_replica_batch_size(global_batch)``
            and shard with ``input_context.num_input_pipelines`` /
            ``input_pipeline_id``). It must not run out: ``.repeat()`` it.
            Batches are what ``model.train_step`` takes (dicts for ``HSMixModel``).
        epochs: number of epochs in total (a resumed run continues up to it).
        steps_per_epoch: steps per epoch.
        checkpoint_dir: folder, shared by all workers, for ``tf.train.CheckpointManager``
            checkpoints (model, optimizer, HSMix random state, global step); a
            (re)started run resumes from its latest checkpoint. ``None``: no checkpoints.
        strategy: default :func:`make_strategy` (``MultiWorkerMirroredStrategy``
            from ``TF_CONFIG``); any ``tf.distribute`` strategy works.
        max_to_keep: checkpoints kept.
        checkpoint_every: also save every this many steps (always at each epoch end).
        log_every: also log the running metrics every this many steps.
        log: where the chief's progress lines go (``None``: silent).

    Returns:
        ``(model, history)``: the trained model, and one dict per epoch run
        here with ``epoch``, ``step`` and the epoch's metrics (``loss`` first),
        the same on every worker.

    Example:
        >>> import keras
        >>> from keras_hsmix import HSMixModel
        >>> from keras_hsmix.data import make_pipeline, make_synthetic_dataset
        >>> from keras_hsmix.models import unet
        >>> def build_model():
        ...     model = HSMixModel(unet((32, 32, 3), 2, base_filters=4, depth=2), num_classes=2, seed=0)
        ...     model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        ...     return model
        >>> def dataset_fn(ctx):
        ...     data = make_synthetic_dataset(8, (32, 32)).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
        ...     return make_pipeline(data, batch_size=ctx.get_per_replica_batch_size(4), mixer=None,
        ...                          n_segments=20, output="dict", progress=False).repeat()
        >>> model, history = train_multi_worker(build_model, dataset_fn, epochs=1, steps_per_epoch=2,
        ...                                     strategy=tf.distribute.get_strategy(), log=None)
        >>> [k for k in history[0]][:3]
        ['epoch', 'step', 'loss']
    """
    if epochs < 1 or steps_per_epoch < 1:
        raise ValueError(f"epochs and steps_per_epoch must be >= 1, got {epochs} and {steps_per_epoch}")
    strategy = strategy or make_strategy()
    chief = is_chief(strategy)

    def say(message: str) -> None:
        if chief and log is not None:
            log(message)

    with strategy.scope():
        model = build_model()
        _check_compiled(model)
        model.optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")

    manager = None
    local_dir = ""
    if checkpoint_dir is not None:
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, step=step)
        local_dir = checkpoint_directory(checkpoint_dir, strategy)
        manager = tf.train.CheckpointManager(checkpoint, local_dir, max_to_keep=max_to_keep)
        latest = tf.train.latest_checkpoint(os.fspath(checkpoint_dir))  # the chief's, on shared storage
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
            say(f"resumed from {latest} at step {int(step.numpy())}")

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    local_state = replica_local_variables(model)

    def average_local_state() -> None:
        context = tf.distribute.get_replica_context()
        means = context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in local_state])
        for variable, mean in zip(local_state, means):
            variable.assign(mean)

    @tf.function
    def distributed_step(iterator: Any) -> dict:
        per_replica = strategy.run(model.train_step, args=(next(iterator),))
        if local_state:
            strategy.run(average_local_state)
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    def save() -> None:
        if manager is None:
            return
        path = manager.save(checkpoint_number=int(step.numpy()))
        if chief:
            say(f"saved {path}")
        else:
            tf.io.gfile.rmtree(local_dir)  # every worker must save; only the chief's copy is kept

    def text(values: dict) -> str:
        return " - ".join(f"{k}: {v:.4f}" for k, v in values.items())

    history: list[dict[str, float]] = []
    total = epochs * steps_per_epoch
    if int(step.numpy()) >= total:
        say(f"nothing to do: the checkpoint is at step {int(step.numpy())} >= {total}")
    while int(step.numpy()) < total:
        epoch = int(step.numpy()) // steps_per_epoch + 1
        for metric in model.metrics:
            metric.reset_state()
        start = time.perf_counter()
        while True:
            logs = distributed_step(iterator)
            current = int(step.assign_add(1).numpy())
            if log_every and current % log_every == 0 and current % steps_per_epoch:
                say(f"epoch {epoch}/{epochs} - step {current}/{total} - {text(_floats(logs))}")
            if checkpoint_every and current % checkpoint_every == 0 and current % steps_per_epoch:
                save()
            if current % steps_per_epoch == 0:
                break
        values = _floats(logs)
        history.append({"epoch": epoch, "step": current, **values})
        say(f"epoch {epoch}/{epochs} - step {current}/{total} - {time.perf_counter() - start:.1f}s - {text(values)}")
        save()
    return model, history


def _floats(logs: dict) -> dict[str, float]:
    return {k: float(np.asarray(v)) for k, v in logs.items()}

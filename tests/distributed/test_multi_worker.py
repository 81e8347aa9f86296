"""Multi-worker training: 2 worker processes on localhost, MultiWorkerMirroredStrategy, custom loop."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix import HSMixModel
from keras_hsmix.data import make_pipeline, make_synthetic_dataset
from keras_hsmix.distributed import checkpoint_directory, is_chief, train_multi_worker
from keras_hsmix.models import unet

from .conftest import free_port

SCRIPT = Path(__file__).with_name("_mw_worker.py")


def run_cluster(processes, out: Path, steps: int, calls: list[tuple[int, str]]) -> list[str]:
    """Runs the 2 workers to the end, each making the ``(epochs, saliency)`` calls of ``train_multi_worker`` in
    turn (a later call is the job restarted); returns their outputs."""
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    args = [str(SCRIPT), str(out), str(steps)] + [str(v) for call in calls for v in call]
    procs = [
        processes.start(args, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        for i in range(2)
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    for i, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"worker {i} failed ({proc.returncode}):\n{output[-6000:]}"
    return outputs


def results(out: Path, call: int) -> tuple[list[list[np.ndarray]], list[list[dict]]]:
    weights, histories = [], []
    for i in range(2):
        with np.load(out / f"worker{i}_{call}.npz") as data:
            weights.append([data[f"arr_{k}"] for k in range(len(data.files))])
        histories.append(json.loads((out / f"worker{i}_{call}.json").read_text()))
    return weights, histories


def assert_same_weights(weights: list[list[np.ndarray]]) -> None:
    assert len(weights[0]) == len(weights[1]) > 0
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_workers_train_alike_and_resume_after_restart(processes, tmp_path: Path) -> None:
    # Call 0: HSMix with Grad-CAM saliency, as HSMixModel trains by default, 2 epochs of 3 steps. Call 1: the job
    # restarted with a longer schedule (a new model in each worker, as a restarted process builds): it resumes at
    # step 6 and runs epoch 3 only. (Beta saliency there, only to trace faster: Grad-CAM holds no variables, the
    # checkpoint is the same.) Both calls in the same two processes: starting TensorFlow twice more per worker
    # would add nothing that the restore path does not already show.
    outputs = run_cluster(processes, tmp_path, steps=3, calls=[(2, "gradcam"), (3, "random")])
    weights, histories = results(tmp_path, 0)
    assert_same_weights(weights)
    assert histories[0] == histories[1]
    assert [row["epoch"] for row in histories[0]] == [1, 2]
    first, restarted = outputs[0].split("call 0 done")
    assert "epoch 2/2 - step 6/6" in first  # progress on the chief only
    assert "epoch 2/2" not in outputs[1] and "epoch 3/3" not in outputs[1]

    assert "at step 6" in restarted
    weights, resumed = results(tmp_path, 1)
    assert_same_weights(weights)
    assert resumed[0] == resumed[1]
    assert [row["epoch"] for row in resumed[0]] == [3]
    losses = [row["loss"] for row in histories[0] + resumed[0]]
    assert losses[-1] < losses[0], losses
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.is_dir()) == []  # no worker temp left


# ------------------------------------------------------- one process, fast
def build_model() -> HSMixModel:
    keras.utils.set_random_seed(0)
    model = HSMixModel(unet((32, 32, 3), 2, base_filters=4, depth=1), num_classes=2, saliency="random",
                       n_segments=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
    data = make_synthetic_dataset(8, (32, 32), seed=0).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return make_pipeline(data, batch_size=ctx.get_per_replica_batch_size(4), mixer=None, n_segments=16,
                         output="dict", seed=0).repeat()


@pytest.mark.eager
def test_resume_from_checkpoint_in_one_process(tmp_path: Path) -> None:
    strategy = tf.distribute.get_strategy()
    lines: list[str] = []
    model, history = train_multi_worker(build_model, dataset_fn, epochs=1, steps_per_epoch=2,
                                        checkpoint_dir=tmp_path, strategy=strategy, log=lines.append)
    assert [row["step"] for row in history] == [2]
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
    saved = [w.copy() for w in model.get_weights()]
    iterations = int(model.optimizer.iterations.numpy())
    assert iterations == 2

    # A new run (a restarted process) with zero training steps left restores the weights as saved.
    restarted, history = train_multi_worker(build_model, dataset_fn, epochs=1, steps_per_epoch=2,
                                            checkpoint_dir=tmp_path, strategy=strategy, log=lines.append)
    assert history == []
    for a, b in zip(saved, restarted.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(restarted.optimizer.iterations.numpy()) == iterations
    assert any("resumed from" in line and "at step 2" in line for line in lines)
    # Resuming with epochs left to run (epoch 3 after step 6) is test_two_workers_train_alike_and_resume_after_restart.


def test_chief_and_checkpoint_folder_without_cluster(tmp_path: Path) -> None:
    strategy = tf.distribute.get_strategy()
    assert is_chief(strategy)
    assert checkpoint_directory(tmp_path, strategy) == str(tmp_path)


def test_uncompiled_model_is_rejected() -> None:
    def uncompiled() -> keras.Model:
        return unet((32, 32, 3), 2, base_filters=4, depth=1)

    with pytest.raises(ValueError, match="compiled"):
        train_multi_worker(uncompiled, dataset_fn, epochs=1, steps_per_epoch=1,
                           strategy=tf.distribute.get_strategy(), log=None)

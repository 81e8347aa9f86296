"""Faults and long runs: a training run killed with SIGKILL and resumed; 5,000 pipeline steps.

The SIGKILL test runs the real command line in a subprocess (``python -m
keras_hsmix.cli train``), kills it with SIGKILL as soon as ``history.csv`` shows a
finished epoch (so the kill lands in the next epoch, or in its validation), resumes
it (the same command with ``--resume``, called in the test's process) and checks that the run loses at most the
epoch in progress.
No test here asserts on wall-clock time.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_hsmix.cli import main as cli_main
from keras_hsmix.data import make_pipeline
from keras_hsmix.runs.train import BACKUP_DIR, TrainConfig, _reconcile_history, train
from tests.conftest import REPO_ROOT

EPOCHS = 3
TRAIN_ARGS = [
    "--size", "32", "--depth", "1", "--base-filters", "4", "--num-images", "24", "--n-segments", "20", "30",
    "--epochs", str(EPOCHS), "--batch-size", "4",  # stdout is not a terminal: one line per epoch
    "--no-export",  # the SavedModel is not what this test is about (the demo test in test_cli_quiet.py reads one)
]


def _history(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if row.get("epoch", "").strip().isdigit()]


def _train_command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "keras_hsmix.cli", "train", "--out", str(out), *TRAIN_ARGS, *extra]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.mark.slow
def test_train_killed_with_sigkill_resumes_and_loses_at_most_the_current_epoch(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    history = out / "history.csv"
    log = (tmp_path / "killed.log").open("w")
    process = subprocess.Popen(_train_command(out), cwd=tmp_path, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        # Wait for the first finished epoch (or for the process to end on its own, a failure).
        while process.poll() is None and len(_history(history)) < 1:
            time.sleep(0.02)
        assert process.poll() is None, f"training ended before it could be killed: {(tmp_path / 'killed.log').read_text()[-2000:]}"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        log.close()
    assert process.returncode == -signal.SIGKILL

    rows_at_kill = _history(history)
    metadata = json.loads((out / BACKUP_DIR / "training_metadata.json").read_text())
    finished = int(metadata["epoch"])  # epochs whose state the backup holds
    assert 1 <= len(rows_at_kill) <= finished < EPOCHS, (rows_at_kill, metadata)
    assert not (out / "results.json").exists()

    # Without --resume the unfinished run is protected (checked in-process: it fails before any work).
    config = TrainConfig(out=str(out), size=32, depth=1, base_filters=4, num_images=24, n_segments=(20, 30),
                         epochs=EPOCHS, batch_size=4, bn_momentum=0.9, export=False)  # the CLI run's settings
    with pytest.raises(ValueError, match="unfinished run.*--resume"):
        train(config, resume=False, verbose=0)

    # The resume is the same command line with --resume, called in this process (which never saw the killed run's
    # state) rather than in a third Python process that would start TensorFlow again.
    capsys.readouterr()
    assert cli_main(["train", "--out", str(out), *TRAIN_ARGS, "--resume"]) == 0
    printed = capsys.readouterr().out
    # Keras prints "Epoch k/N" (1-based) for each epoch it runs: the resumed run starts
    # right after the last finished epoch, so only the epoch in progress was lost.
    ran = [int(line.split()[1].split("/")[0]) for line in printed.splitlines() if line.startswith("Epoch ")]
    assert ran == list(range(finished + 1, EPOCHS + 1)), printed[-2000:]

    rows = _history(history)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS)), [r["epoch"] for r in rows]
    assert rows[: len(rows_at_kill)] == rows_at_kill  # the rows logged before the kill are kept as they were
    results = json.loads((out / "results.json").read_text())
    assert set(results["validation"]) == {"dice", "jaccard", "hd95"}
    assert not (out / BACKUP_DIR).exists()
    assert (out / "best.weights.h5").exists() and not (out / "saved_model").exists()

    # --resume on a finished run returns its results; it does not train again.
    assert train(config, resume=True, verbose=0) == results
    assert _history(history) == rows


def _write_history(path: Path, epochs: list[int], tail: str = "") -> None:
    lines = ["epoch,dice,loss,val_dice,val_loss"]
    lines += [f"{e},0.5,1.0,{0.1 * (e + 1):.1f},1.0" for e in epochs]
    path.write_text("\n".join(lines) + "\n" + tail)


@pytest.mark.parametrize(
    "backup_epoch, logged, tail, kept, best",
    [
        (2, [0, 1], "", [0, 1], 0.2),  # the usual kill: rows match the backup
        (2, [0, 1, 2], "", [0, 1], 0.2),  # a row logged for an epoch the backup does not hold
        (2, [0, 1], "2,0.5,1.0,0", [0, 1], 0.2),  # a row cut short by the kill
        (None, [0, 1], "", [], None),  # no usable backup: the run restarts from epoch 0
    ],
)
def test_resume_keeps_only_the_history_of_backed_up_epochs(
    tmp_path: Path, backup_epoch: int | None, logged: list[int], tail: str, kept: list[int], best: float | None
) -> None:
    history, backup = tmp_path / "history.csv", tmp_path / BACKUP_DIR
    backup.mkdir()
    if backup_epoch is not None:
        (backup / "training_metadata.json").write_text(json.dumps({"epoch": backup_epoch, "batch": 0}))
    _write_history(history, logged, tail)
    assert _reconcile_history(history, backup) == best
    assert [int(r["epoch"]) for r in _history(history)] == kept


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status on this system")


@pytest.mark.slow
def test_pipeline_5000_steps_keeps_memory_flat() -> None:
    """5,000 mixed batches (SLIC cached, shuffle, flips, HSMix): RSS after warm-up stays flat."""
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices({
        "images": rng.random((8, 16, 16, 3)).astype(np.float32),
        "segmentation_masks": rng.integers(0, 2, (8, 16, 16, 1)).astype(np.int32),
    })
    pipeline = make_pipeline(data, batch_size=2, num_classes=2, n_segments=(4, 8), seed=0, shuffle=8).repeat()
    samples: dict[int, float] = {}
    steps = 0
    for steps, (images, masks) in enumerate(pipeline.take(5000), start=1):
        if steps % 500 == 0:
            samples[steps] = _rss_mib()
    assert steps == 5000
    assert images.shape == (2, 16, 16, 3) and masks.shape == (2, 16, 16, 2)
    warm, end = samples[1000], samples[5000]
    # A leak of even 8 KiB per step would add ~31 MiB over the 4,000 measured steps.
    assert end - warm < 24.0, f"RSS grew from {warm:.1f} MiB to {end:.1f} MiB: {samples}"

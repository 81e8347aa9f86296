"""MirroredStrategy on two CPU replicas: synchronised batch norm, and HSMixModel's logged loss and mixing.

Both run in one subprocess (``_mirrored.py``): the two logical CPU devices must be set before TensorFlow starts,
and TensorFlow then starts once for all cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras_hsmix.models import unet

from .conftest import REPO_ROOT, Processes


def _run(*cases: str) -> dict[str, np.ndarray]:
    processes = Processes()
    try:
        proc = processes.start([str(REPO_ROOT / "tests" / "distributed" / "_mirrored.py"), *cases])
        output = proc.communicate(timeout=600)[0]
    finally:
        processes.close()
    assert proc.returncode == 0, output[-3000:]
    found = {line.split()[1]: np.array([float(v) for v in line.split()[2:]])
             for line in output.splitlines() if line.startswith(("VAR ", "LOSS "))}
    assert sorted(found) == sorted(cases), output[-3000:]
    return found


@pytest.mark.slow
def test_two_replicas_sync_batch_norm_and_log_the_loss_of_one_replica_with_gradcam_mixing() -> None:
    found = _run("bn:1:local", "bn:1:local:0", "bn:1:local:1", "bn:2:sync", "loss:1:none", "loss:2:none",
                 "loss:2:soft")
    # sync_batch_norm=True: two replicas update the BN statistics as one replica with the whole batch does.
    # Without it each replica would normalise with, and update from, its own half's statistics: each half's
    # variance, computed here with one replica per half, is far below the whole batch's, so a sync that did
    # nothing would fail the first check.
    single = found["bn:1:local"]
    np.testing.assert_allclose(found["bn:2:sync"], single, rtol=1e-3, atol=1e-5)
    for half in ("bn:1:local:0", "bn:1:local:1"):  # within-half variance misses the between-half part
        assert np.all(found[half] < 0.8 * single), (half, found[half], single)
    assert unet((16, 16, 3), 2, 2, 1, sync_batch_norm=True).get_layer("enc0_conv1_bn").synchronized

    # HSMixModel's logged loss is the global batch's on two replicas as on one; soft mixing with Grad-CAM runs in
    # the replicas' train_step (at every step: its loss is not the unmixed one).
    np.testing.assert_allclose(found["loss:1:none"], found["loss:2:none"], rtol=1e-5)
    assert found["loss:1:none"][0] > 0
    soft = found["loss:2:soft"]
    assert len(soft) == 2 and np.all(np.isfinite(soft) & (soft > 0)), soft
    assert np.abs(soft - found["loss:2:none"]).max() > 1e-5, (soft, found["loss:2:none"])  # unmixed: equal bits

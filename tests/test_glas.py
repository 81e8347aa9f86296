"""The core on real GlaS histology images (skipped when the data is absent)."""

from __future__ import annotations

import numpy as np

from keras_hsmix import HardMix, SoftMix
from keras_hsmix.data import add_superpixels, load_folder


def test_mixing_real_glas_images(glas_dir):
    ds = add_superpixels(load_folder(glas_dir / "train", image_size=(160, 160)).take(4), n_segments=(200, 400), seed=0)
    batch = next(iter(ds.batch(4)))
    n = [int(s.max()) + 1 for s in batch["superpixels"].numpy()]
    assert all(20 <= k <= 450 for k in n), n  # SLIC merges small fragments: fewer than asked
    hard = HardMix(num_classes=2, seed=0)
    canon = hard.prepare_inputs(batch)
    tr = hard.get_random_transformation(canon)
    out = hard.transform(canon, tr)
    images, masks = out["images"].numpy(), out["segmentation_masks"].numpy()
    partner = tr["partner"].numpy()
    src = batch["images"].numpy()
    from_b = np.all(images == src[partner], -1)
    from_a = np.all(images == src, -1)
    assert np.all(from_a | from_b)
    # Masks follow the pasted superpixels exactly.
    ids = batch["segmentation_masks"].numpy()[..., 0]
    region = tr["picked"].numpy()[np.arange(4)[:, None, None], batch["superpixels"].numpy()[partner]]
    expected = np.where(region, ids[partner], ids)
    np.testing.assert_array_equal(np.argmax(masks, -1), expected)
    soft = SoftMix(num_classes=2, seed=0)(batch)
    np.testing.assert_allclose(soft["segmentation_masks"].numpy().sum(-1), 1.0, atol=1e-5)
    assert 0.0 <= soft["images"].numpy().min() and soft["images"].numpy().max() <= 1.0

"""Preview figure: what hard and soft mixing do to a pair of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from skimage.segmentation import find_boundaries

from keras_hsmix.layers.hard_mix import HardMix
from keras_hsmix.layers.soft_mix import SoftMix
from keras_hsmix.ops.saliency import static_saliency
from keras_hsmix.ops.superpixels import slic_superpixels

COLUMNS = (
    "A (mask contour)",
    "B (mask contour)",
    "B superpixels",
    "hard mix + mask",
    "saliency A",
    "saliency B",
    "soft mix",
    "soft mask (foreground)",
)


def _rgb(image: np.ndarray) -> np.ndarray:
    """A new RGB array ``[H, W, 3]`` for display: RGB copied, other channel counts as the gray of their mean."""
    image = np.asarray(image, np.float32)
    return image.copy() if image.shape[-1] == 3 else np.repeat(image.mean(-1, keepdims=True), 3, axis=-1)


def _overlay(image: np.ndarray, mask: np.ndarray, colour=(0.0, 1.0, 0.2), alpha: float = 0.35) -> np.ndarray:
    out = _rgb(image)
    m = np.clip(mask, 0, 1)[..., None]
    out = out * (1 - alpha * m) + alpha * m * np.array(colour)
    contour = find_boundaries(mask > 0.5, mode="inner")
    out[contour] = colour
    return out


def preview_figure(
    images: np.ndarray,
    masks: np.ndarray,
    out_path: str | Path,
    num_classes: int = 2,
    n_segments: int = 300,
    p: float = 0.5,
    seed: int = 0,
) -> Path:
    """Writes a PNG grid with one row per pair ``(images[2i], images[2i+1])``.

    Columns: A, B (with mask contours), B's superpixel boundaries, the hard mix
    with its mask overlaid, the static saliency of A and of B, the soft mix and
    its soft mask (probability of foreground: any class but 0; with more than two
    classes the contours and overlays show the foreground too). Images of other
    than three channels (grayscale, multi-sequence MRI) are shown as the gray of
    their channel mean. The mixes are made by
    :class:`HardMix` and :class:`SoftMix` with the partner fixed to the other
    image of the pair.

    Example:
        >>> from keras_hsmix.data import synthetic_arrays
        >>> x, y = synthetic_arrays(4, (96, 96))
        >>> preview_figure(x, y, "/tmp/preview.png", n_segments=60).name
        'preview.png'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images, np.float32)
    masks = np.asarray(masks)
    pairs = len(images) // 2
    if pairs < 1:
        raise ValueError(f"images: need at least 2 images for a preview, got {len(images)}")
    images, masks = images[: 2 * pairs], masks[: 2 * pairs]
    superpixels = slic_superpixels(images, n_segments=n_segments)
    batch = {"images": tf.constant(images), "segmentation_masks": tf.constant(masks), "superpixels": superpixels}
    hard = HardMix(p=p, num_classes=num_classes, seed=seed, data_format="channels_last")
    soft = SoftMix(p=p, num_classes=num_classes, seed=seed, data_format="channels_last")
    canon = hard.prepare_inputs(batch)
    transformation = hard.get_random_transformation(canon)
    swap = np.arange(2 * pairs).reshape(-1, 2)[:, ::-1].reshape(-1).astype(np.int32)
    transformation["partner"] = tf.constant(swap)
    hard_out = hard.transform(canon, transformation)
    soft_out = soft.transform(canon, transformation)
    saliency = static_saliency(images).numpy()

    fig, axes = plt.subplots(pairs, len(COLUMNS), figsize=(2.6 * len(COLUMNS), 2.6 * pairs), squeeze=False)
    for row in range(pairs):
        a, b = 2 * row, 2 * row + 1
        hard_mask = 1.0 - hard_out["segmentation_masks"][a].numpy()[..., 0]
        soft_mask = 1.0 - soft_out["segmentation_masks"][a].numpy()[..., 0]
        bounds = find_boundaries(superpixels[b].numpy(), mode="inner")
        sp_view = _rgb(images[b])
        sp_view[bounds] = (1.0, 1.0, 0.0)
        panels = [
            _overlay(images[a], (masks[a].reshape(masks[a].shape[:2]) > 0).astype(np.float32), alpha=0.0),
            _overlay(images[b], (masks[b].reshape(masks[b].shape[:2]) > 0).astype(np.float32), alpha=0.0),
            sp_view,
            _overlay(hard_out["images"][a].numpy(), hard_mask),
            saliency[a],
            saliency[b],
            np.clip(_rgb(soft_out["images"][a].numpy()), 0, 1),
            soft_mask,
        ]
        for col, panel in enumerate(panels):
            ax = axes[row, col]
            cmap = "magma" if col in (4, 5) else ("viridis" if col == 7 else None)
            ax.imshow(panel, cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(COLUMNS[col], fontsize=9)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path

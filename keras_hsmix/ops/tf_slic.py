"""SLIC superpixels in pure TensorFlow: batched k-means on a grid with a local search window.

:func:`tf_slic` runs inside a graph (``tf.function``, ``tf.data``, ``train_step``)
and on any device TensorFlow runs on, with no ``tf.numpy_function``. It follows
SLIC (Achanta et al., 2012) as scikit-image implements it: colour in CIE Lab
(grayscale scaled to 0..100), centres on a regular grid of about
``n_segments`` cells, distance ``d_lab² / compactness² + d_xy² / S²`` with grid
step ``S``, and a fixed number of iterations. Each pixel compares itself with
the centres of its own grid cell and of the 8 neighbouring cells (the local
search window), and each iteration moves the centres to the mean of their
pixels with one segment reduction over the whole batch.

Differences from scikit-image: no connectivity enforcement (a superpixel may
be split into fragments, and no small fragment is merged into a neighbour),
and one grid per batch (``n_segments`` is one value for all images of a call).
Ids lie in ``[0, gy * gx)``; an id whose centre lost all its pixels is simply
absent, which the mixing core handles (empty superpixel slots are never read).

Whether it should replace scikit-image is measured, not assumed:
``python benchmarks/run.py --only tf_slic`` prints its speed against
scikit-image and the boundary recall of both on GlaS (see
``docs/performance.md``); scikit-image stays the default.
"""

from __future__ import annotations

import math

import tensorflow as tf

# sRGB (D65) -> XYZ, and the D65 white point, as in scikit-image's rgb2lab.
_RGB_TO_XYZ = [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
_WHITE = [0.95047, 1.0, 1.08883]


def rgb_to_lab(images: tf.Tensor) -> tf.Tensor:
    """CIE Lab ``[..., 3]`` of sRGB images in [0, 1] (D65 white, as scikit-image's ``rgb2lab``).

    Example:
        >>> import tensorflow as tf
        >>> [abs(round(float(v), 1)) for v in rgb_to_lab(tf.ones((1, 3)))[0]]
        [100.0, 0.0, 0.0]
    """
    rgb = tf.cast(images, tf.float32)
    linear = tf.where(rgb > 0.04045, tf.pow((tf.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4), rgb / 12.92)
    xyz = tf.tensordot(linear, tf.constant(_RGB_TO_XYZ, tf.float32), axes=[[-1], [1]]) / tf.constant(_WHITE)
    f = tf.where(xyz > 0.008856, tf.pow(tf.maximum(xyz, 0.008856), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def grid_shape(height: int, width: int, n_segments: int) -> tuple[int, int]:
    """Rows and columns of the initial grid: about ``n_segments`` cells of similar height and width.

    Example:
        >>> grid_shape(224, 224, 300)
        (17, 18)
    """
    if n_segments < 1:
        raise ValueError(f"n_segments must be >= 1, got {n_segments}")
    rows = max(1, min(height, round(math.sqrt(n_segments * height / width))))
    cols = max(1, min(width, round(n_segments / rows)))
    return rows, cols


def _features(images: tf.Tensor, compactness: float, step: float) -> tf.Tensor:
    """Per-pixel ``[colour / compactness, y / S, x / S]``: squared distances in this space are SLIC's."""
    channels = images.shape[-1]
    if channels == 3:
        colour = rgb_to_lab(images)
    elif channels == 1:
        colour = tf.cast(images, tf.float32) * 100.0  # the L range, as slic_numpy does for grayscale
    else:
        raise ValueError(f"images: expected 1 or 3 channels, got shape {images.shape}")
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    ys = tf.cast(tf.range(height), tf.float32) / step
    xs = tf.cast(tf.range(width), tf.float32) / step
    yy = tf.broadcast_to(ys[:, tf.newaxis], tf.stack([height, width]))
    xx = tf.broadcast_to(xs[tf.newaxis, :], tf.stack([height, width]))
    position = tf.broadcast_to(tf.stack([yy, xx], -1)[tf.newaxis], tf.stack([batch, height, width, 2]))
    return tf.concat([colour / compactness, position], axis=-1)


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of ``[B, H, W, C]`` with mirrored borders (``sigma`` in pixels; 0: none).

    Example:
        >>> import tensorflow as tf
        >>> round(float(tf.reduce_max(gaussian_blur(tf.ones((1, 8, 8, 1)), 1.0))), 4)
        1.0
    """
    # Mirrored padding needs pad < size: tiny images get a truncated kernel.
    radius = min(int(math.ceil(3 * sigma)), min(images.shape[1], images.shape[2]) - 1)
    if sigma <= 0 or radius < 1:
        return images
    taps = tf.exp(-0.5 * tf.square(tf.range(-radius, radius + 1, dtype=tf.float32) / sigma))
    taps = taps / tf.reduce_sum(taps)
    channels = images.shape[-1]
    x = tf.pad(tf.cast(images, tf.float32), [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    rows = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    cols = tf.tile(tf.reshape(taps, [1, -1, 1, 1]), [1, 1, channels, 1])
    x = tf.nn.depthwise_conv2d(x, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, cols, [1, 1, 1, 1], "VALID")


def _cell_index(size: int, cells: int) -> tf.Tensor:
    """Grid cell of each row (or column): ``[size]`` int32 in ``[0, cells)``."""
    return tf.minimum(tf.range(size) * cells // size, cells - 1)


def _segment_means(features: tf.Tensor, labels: tf.Tensor, slots: int, previous: tf.Tensor) -> tf.Tensor:
    """Mean feature of each centre's pixels ``[B, slots, F]``; a centre with no pixel keeps ``previous``."""
    batch = tf.shape(features)[0]
    ids = tf.reshape(labels + tf.range(batch)[:, tf.newaxis, tf.newaxis] * slots, [-1])
    flat = tf.reshape(features, [-1, features.shape[-1]])
    sums = tf.math.unsorted_segment_sum(tf.concat([flat, tf.ones_like(flat[:, :1])], -1), ids, batch * slots)
    sums = tf.reshape(sums, [batch, slots, -1])
    counts = sums[..., -1:]
    return tf.where(counts > 0, sums[..., :-1] / tf.maximum(counts, 1.0), previous)


def majority_filter(labels: tf.Tensor) -> tf.Tensor:
    """Each pixel takes the most frequent label of its 3x3 neighbourhood (its own on ties).

    Removes the isolated pixels and one-pixel-thin fragments that k-means leaves on textured images.

    Example:
        >>> import tensorflow as tf
        >>> noisy = tf.constant([[[0, 0, 0], [0, 1, 0], [0, 0, 0]]])
        >>> int(majority_filter(noisy).numpy().max())
        0
    """
    padded = tf.pad(labels, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")
    height, width = tf.shape(labels)[1], tf.shape(labels)[2]
    neighbours = [padded[:, dy:dy + height, dx:dx + width] for dy in range(3) for dx in range(3)]
    votes = [tf.add_n([tf.cast(tf.equal(a, b), tf.int32) for b in neighbours]) for a in neighbours]
    # The centre (index 4) wins ties: give it half a vote more.
    scores = tf.stack([2 * v + (1 if i == 4 else 0) for i, v in enumerate(votes)], axis=-1)
    winner = tf.argmax(scores, axis=-1, output_type=tf.int32)
    return tf.gather(tf.stack(neighbours, -1), winner[..., tf.newaxis], batch_dims=3)[..., 0]


def tf_slic(
    images: tf.Tensor,
    n_segments: int = 300,
    compactness: float = 10.0,
    iterations: int = 10,
    sigma: float = 2.0,
    smoothing: int = 2,
) -> tf.Tensor:
    """SLIC superpixels of a batch ``[B, H, W, C]`` (C = 1 or 3, float in [0, 1]) as int32 ``[B, H, W]``.

    Args:
        images: batch with static height, width and channels; float in [0, 1].
        n_segments: approximate number of superpixels per image (one grid for the batch).
        compactness: balance of colour and space, as in scikit-image.
        iterations: k-means iterations (scikit-image's default is 10).
        sigma: Gaussian blur of the image before clustering, in pixels (scikit-image's
            ``sigma``; its default is 0, but without connectivity enforcement the
            textured tissue of GlaS then breaks into thousands of fragments).
        smoothing: passes of :func:`majority_filter` over the labels (stands in for
            scikit-image's connectivity enforcement).

    Example:
        >>> import tensorflow as tf
        >>> sp = tf_slic(tf.random.uniform((2, 32, 32, 3), seed=0), n_segments=16)
        >>> sp.shape, sp.dtype, int(tf.reduce_max(sp)) < 16
        (TensorShape([2, 32, 32]), tf.int32, True)
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"images: expected a batch [B, H, W, C], got shape {images.shape}")
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(f"images: tf_slic needs a static height and width, got shape {images.shape}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    rows, cols = grid_shape(height, width, int(n_segments))
    step = math.sqrt(height * width / float(rows * cols))
    features = _features(gaussian_blur(images, float(sigma)), float(compactness), step)
    cell_y, cell_x = _cell_index(height, rows), _cell_index(width, cols)
    slots = rows * cols
    cells = cell_y[:, tf.newaxis] * cols + cell_x[tf.newaxis, :]  # [H, W] initial labels
    labels = tf.broadcast_to(cells, tf.shape(features)[:3])
    centres = _segment_means(features, labels, slots, tf.zeros([tf.shape(features)[0], slots, features.shape[-1]]))

    for _ in range(iterations):
        grid = tf.reshape(centres, [-1, rows, cols, features.shape[-1]])
        # A border of centres infinitely far away stands for the cells outside the grid.
        padded = tf.pad(grid, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=float("inf"))
        best = None
        for dy in (-1, 0, 1):
            ry = tf.gather(padded, cell_y + 1 + dy, axis=1)  # [B, H, cols + 2, F]
            for dx in (-1, 0, 1):
                candidate = tf.gather(ry, cell_x + 1 + dx, axis=2)  # [B, H, W, F]
                distance = tf.reduce_sum(tf.square(features - candidate), axis=-1)
                ids = (cell_y[:, tf.newaxis] + dy) * cols + (cell_x[tf.newaxis, :] + dx)
                if best is None:
                    best, labels = distance, tf.broadcast_to(ids, tf.shape(distance))
                else:
                    closer = distance < best
                    best = tf.where(closer, distance, best)
                    labels = tf.where(closer, ids, labels)
        centres = _segment_means(features, labels, slots, centres)
    labels = tf.cast(labels, tf.int32)
    for _ in range(smoothing):
        labels = majority_filter(labels)
    return labels

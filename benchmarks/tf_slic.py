"""SLIC superpixels in pure TensorFlow: batched k-means on a grid with a local search window (experimental).

It lives beside the benchmark, not in the package: its only user is ``benchmarks/run.py``, which
measures it against scikit-image; scikit-image SLIC (``keras_hsmix.ops.superpixels``) is what the
library runs, and this module would move into the package only if a measurement made it the default.

:func:`tf_slic` runs inside a graph (``tf.function``, ``tf.data``, ``train_step``)
and on any device TensorFlow runs on, with no ``tf.numpy_function``. It follows
SLIC (Achanta et al., 2012) as scikit-image implements it: each image rescaled
to [0, 1], colour in CIE Lab (other channel counts scaled to 0..100), centres on a regular grid of about
``n_segments`` cells, distance ``d_lab² / compactness² + d_xy² / S²`` with grid
step ``S``, and a fixed number of iterations. Each pixel compares itself with
the centres of its own grid cell and of the 8 neighbouring cells (the local
search window), and each iteration moves the centres to the mean of their
pixels with one segment reduction over the whole batch.

Connectivity is enforced as in scikit-image (each superpixel is one
4-connected region), but differently: the largest piece of a label keeps it
and every other piece joins a neighbouring superpixel, so no new id is made,
where scikit-image turns pieces larger than half a superpixel into new labels.
One grid per batch (``n_segments`` is one value for all images of a call).
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

from keras_hsmix.ops.superpixels import L_RANGE

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


def _rescale(images: tf.Tensor) -> tf.Tensor:
    """Each image to [0, 1] by its own minimum and maximum (a constant image becomes zeros)."""
    images = tf.cast(images, tf.float32)
    low = tf.reduce_min(images, axis=[1, 2, 3], keepdims=True)
    span = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True) - low
    return tf.math.divide_no_nan(images - low, span)


def _features(images: tf.Tensor, compactness: float, step: float) -> tf.Tensor:
    """Per-pixel ``[colour / compactness, y / S, x / S]``: squared distances in this space are SLIC's."""
    channels = images.shape[-1]
    if channels == 3:
        colour = rgb_to_lab(images)
    elif channels is not None and channels >= 1:
        colour = tf.cast(images, tf.float32) * L_RANGE  # as slic_numpy weighs other channel counts
    else:
        raise ValueError(f"images: expected a static channel count >= 1, got shape {images.shape}")
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


def _shift(x: tf.Tensor, dy: int, dx: int, fill: int | bool) -> tf.Tensor:
    """``x`` ``[B, H, W]`` moved by one pixel (``out[y, x] = x[y - dy, x - dx]``), ``fill`` where nothing moves in."""
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1]], constant_values=fill)
    return padded[:, 1 - dy:1 - dy + height, 1 - dx:1 - dx + width]


_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # 4-connectivity, as scikit-image's SLIC


def _run_ids(labels: tf.Tensor) -> tf.Tensor:
    """Id of each pixel's horizontal run of equal labels, unique over the batch: ``[B, H, W]`` in ``[0, B*H*W)``."""
    shape = tf.shape(labels)
    change = tf.cast(tf.not_equal(labels[:, :, 1:], labels[:, :, :-1]), tf.int32)
    runs = tf.concat([tf.zeros_like(change[:, :, :1]), tf.cumsum(change, axis=2)], axis=2)
    rows = tf.reshape(tf.range(shape[0] * shape[1]), [shape[0], shape[1], 1])
    return runs + rows * shape[2]


def connected_components(labels: tf.Tensor) -> tf.Tensor:
    """4-connected pieces of equal label: each pixel gets the smallest flat pixel index ``y * W + x`` of its piece.

    Minimum propagation along whole runs of equal labels, alternately along rows and columns (one segment
    reduction each), then pointer jumping (``c <- c[c]``), until nothing changes: the number of rounds grows
    with how often a piece's paths turn, not with its length. One ``tf.while_loop`` for the batch, usable
    under XLA.

    Example:
        >>> import tensorflow as tf
        >>> connected_components(tf.constant([[[1, 0, 1], [1, 0, 1]]])).numpy()[0]
        array([[0, 1, 2],
               [0, 1, 2]], dtype=int32)
    """
    labels = tf.convert_to_tensor(labels)
    shape = tf.shape(labels)
    batch, pixels = shape[0], shape[1] * shape[2]
    start = tf.reshape(tf.range(pixels, dtype=tf.int32), [1, shape[1], shape[2]]) + tf.zeros_like(labels, tf.int32)
    row_runs = _run_ids(labels)
    column_runs = tf.transpose(_run_ids(tf.transpose(labels, [0, 2, 1])), [0, 2, 1])
    slots = batch * pixels

    def run_min(components: tf.Tensor, runs: tf.Tensor) -> tf.Tensor:
        lowest = tf.math.unsorted_segment_min(tf.reshape(components, [-1]), tf.reshape(runs, [-1]), slots)
        return tf.gather(lowest, runs)

    def step(components: tf.Tensor, _: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        lowest = run_min(run_min(components, row_runs), column_runs)
        flat = tf.reshape(lowest, [batch, pixels])
        jumped = tf.reshape(tf.gather(flat, flat, batch_dims=1), shape)  # a piece's index points into the piece
        return jumped, tf.reduce_any(tf.not_equal(jumped, components))

    components, _ = tf.while_loop(lambda c, changed: changed, step, (start, tf.constant(True)),
                                  maximum_iterations=pixels)
    return components


def enforce_connectivity(labels: tf.Tensor, num_labels: int) -> tf.Tensor:
    """Makes every label one 4-connected region: its largest piece keeps it, the other pieces join a neighbour.

    Each piece that is not the largest of its label takes, whole, the label of an adjacent pixel that already
    belongs to a settled region (the largest pieces first, then pieces merged in earlier rounds), so that no
    label ends up in two places and no new id is made: ids stay in ``[0, num_labels)``. scikit-image instead
    merges pieces smaller than half a superpixel and turns larger ones into new labels.

    Args:
        labels: int ``[B, H, W]`` ids in ``[0, num_labels)``.
        num_labels: number of id slots.

    Example:
        >>> import tensorflow as tf
        >>> split = tf.constant([[[0, 0, 1, 0], [0, 0, 1, 1], [1, 1, 1, 1]]])
        >>> enforce_connectivity(split, 2).numpy()[0]
        array([[0, 0, 1, 1],
               [0, 0, 1, 1],
               [1, 1, 1, 1]], dtype=int32)
    """
    labels = tf.cast(labels, tf.int32)
    shape = tf.shape(labels)
    batch, pixels = shape[0], shape[1] * shape[2]
    components = connected_components(labels)
    offsets = tf.range(batch)[:, tf.newaxis, tf.newaxis]
    piece_ids = tf.reshape(components + offsets * pixels, [-1])
    sizes = tf.math.unsorted_segment_sum(tf.ones_like(piece_ids), piece_ids, batch * pixels)
    size = tf.reshape(tf.gather(sizes, piece_ids), shape)
    # The largest piece of each label (ties: the smallest index), as one int64 key per pixel.
    key = tf.cast(size, tf.int64) * tf.cast(pixels, tf.int64) + tf.cast(pixels - 1 - components, tf.int64)
    label_ids = tf.reshape(labels + offsets * num_labels, [-1])
    best = tf.math.unsorted_segment_max(tf.reshape(key, [-1]), label_ids, batch * num_labels)
    settled = tf.equal(key, tf.reshape(tf.gather(best, label_ids), shape))

    def step(labels: tf.Tensor, settled: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        offer = tf.fill(shape, -1)
        for dy, dx in _NEIGHBOURS:
            offer = tf.maximum(offer, tf.where(_shift(settled, dy, dx, False), _shift(labels, dy, dx, -1), -1))
        offer = tf.where(settled, -1, offer)
        chosen = tf.math.unsorted_segment_max(tf.reshape(offer, [-1]), piece_ids, batch * pixels)
        taken = tf.reshape(tf.gather(chosen, piece_ids), shape)  # one label for the whole piece
        adopt = tf.logical_and(tf.logical_not(settled), taken >= 0)
        return tf.where(adopt, taken, labels), tf.logical_or(settled, adopt)

    labels, _ = tf.while_loop(lambda l, s: tf.logical_not(tf.reduce_all(s)), step, (labels, settled),
                              maximum_iterations=pixels)
    return labels


@tf.autograph.experimental.do_not_convert  # graph ops and Python-int loops only: nothing for autograph to convert
def tf_slic(
    images: tf.Tensor,
    n_segments: int = 300,
    compactness: float = 10.0,
    iterations: int = 10,
    sigma: float = 2.0,
    smoothing: int = 2,
    connectivity: bool = True,
) -> tf.Tensor:
    """SLIC superpixels of a batch ``[B, H, W, C]`` (RGB in CIE Lab, or any other C) as int32 ``[B, H, W]``.

    Args:
        images: batch with static height, width and channels; each image is rescaled to
            [0, 1] by its own minimum and maximum first, as scikit-image does, so any value
            range gives the same superpixels.
        n_segments: approximate number of superpixels per image (one grid for the batch).
        compactness: balance of colour and space, as in scikit-image.
        iterations: k-means iterations (scikit-image's default is 10).
        sigma: Gaussian blur of the image before clustering, in pixels (scikit-image's
            ``sigma``; its default is 0, but without connectivity enforcement the
            textured tissue of GlaS then breaks into thousands of fragments).
        smoothing: passes of :func:`majority_filter` over the labels (removes the
            stray pixels before the pieces are counted).
        connectivity: make every superpixel one 4-connected region with
            :func:`enforce_connectivity` (as scikit-image does by default).

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
    if images.shape[-1] is None or images.shape[-1] < 1:
        raise ValueError(f"images: expected a static channel count >= 1, got shape {images.shape}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    rows, cols = grid_shape(height, width, int(n_segments))
    step = math.sqrt(height * width / float(rows * cols))
    features = _features(gaussian_blur(_rescale(images), float(sigma)), float(compactness), step)
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
    return enforce_connectivity(labels, slots) if connectivity else labels

"""Scale-out with TensorFlow's own engines.

* :mod:`keras_hsmix.distributed.service`: HSMix preprocessing on ``tf.data``
  service workers in other processes or on other machines (superpixels
  precomputed once and shipped as data; the workers run pure TensorFlow).
* :mod:`keras_hsmix.distributed.multi_worker`: multi-machine training under
  ``MultiWorkerMirroredStrategy`` with a custom ``strategy.run`` loop that calls
  the model's own ``train_step`` (Keras 3's ``fit`` fails there, keras-team/keras#20585).

See ``docs/distributed.md``.
"""

from keras_hsmix.distributed.multi_worker import checkpoint_directory, is_chief, make_strategy, train_multi_worker
from keras_hsmix.distributed.service import (
    distributed_pipeline,
    load_with_superpixels,
    python_ops,
    save_with_superpixels,
    start_dispatcher,
    start_worker,
    worker_pipeline,
)

__all__ = [
    "checkpoint_directory",
    "distributed_pipeline",
    "is_chief",
    "load_with_superpixels",
    "make_strategy",
    "python_ops",
    "save_with_superpixels",
    "start_dispatcher",
    "start_worker",
    "train_multi_worker",
    "worker_pipeline",
]

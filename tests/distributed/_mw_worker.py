"""One worker of the 2-worker MultiWorkerMirroredStrategy test (run as a script, TF_CONFIG set by the test).

argv: out_dir steps_per_epoch epochs saliency [epochs saliency ...]. Each (epochs, saliency) pair is one call of
``train_multi_worker`` with a freshly built model, as a restarted job makes: the second call resumes from the
checkpoint the first one wrote. After call k it writes out_dir/worker{index}_{k}.npz (weights) and
out_dir/worker{index}_{k}.json (history), and prints "call k done".
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_hsmix.distributed import make_strategy, train_multi_worker  # noqa: E402

strategy = make_strategy()  # before any other TensorFlow call, as TensorFlow requires

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_hsmix import HSMixModel  # noqa: E402
from keras_hsmix.data import make_pipeline, make_synthetic_dataset  # noqa: E402
from keras_hsmix.losses import DiceCELoss  # noqa: E402
from keras_hsmix.metrics import Dice  # noqa: E402
from keras_hsmix.models import unet  # noqa: E402

out_dir, steps = sys.argv[1], int(sys.argv[2])
calls = [(int(epochs), saliency) for epochs, saliency in zip(sys.argv[3::2], sys.argv[4::2])]
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]


def build_model(saliency: str) -> HSMixModel:
    keras.utils.set_random_seed(index)  # different on each worker: MWMS broadcasts the chief's initial values
    base = unet((32, 32, 3), 2, base_filters=4, depth=1)
    model = HSMixModel(base, num_classes=2, saliency=saliency, n_segments=16, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=DiceCELoss(from_logits=True),
                  metrics=[Dice(from_logits=True)])
    return model


def dataset_fn(ctx):
    data = make_synthetic_dataset(8, (32, 32), seed=0).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
    return make_pipeline(data, batch_size=ctx.get_per_replica_batch_size(4), mixer=None, n_segments=16,
                         output="dict", seed=index).repeat()


for k, (epochs, saliency) in enumerate(calls):
    model, history = train_multi_worker(lambda: build_model(saliency), dataset_fn, epochs=epochs, steps_per_epoch=steps,
                                        checkpoint_dir=os.path.join(out_dir, "checkpoints"), strategy=strategy)
    np.savez(os.path.join(out_dir, f"worker{index}_{k}.npz"), *model.get_weights())
    with open(os.path.join(out_dir, f"worker{index}_{k}.json"), "w") as handle:
        json.dump(history, handle)
    print(f"call {k} done", flush=True)

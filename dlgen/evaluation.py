"""Evaluate and predict on arrays without the per-call cost of an input pipeline."""

import keras
import numpy as np

from ._checks import check_int

__all__ = ["evaluate", "predict"]

# Examples per evaluation call. Larger calls mean fewer of them and less
# per-call overhead; 1024 Fashion-MNIST images through the book's CNNs keep
# their activations near 100 MB.
EVAL_BATCH = 1024


def _chunks(n, batch_size):
    """Slices covering range(n) in nearly equal parts of at most `batch_size`.

    Equal parts mean at most two input shapes, so a backend that compiles
    per shape (JAX) compiles the evaluation step at most twice.
    """
    parts = max(1, -(-n // batch_size))
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _mean_metrics(model):
    """Whether every compiled metric is a mean over examples (loss, accuracy, errors).

    Such metrics over a whole set are the size-weighted means of the metrics
    over its parts; others (AUC, precision) are not.
    """
    def flat(metrics):
        for m in metrics:
            inner = getattr(m, "metrics", None)
            if isinstance(inner, (list, tuple)) and not isinstance(m, keras.metrics.Mean):
                yield from flat(inner)
            else:
                yield m
    # A subclass that computes its result otherwise (RootMeanSquaredError) is not a mean.
    return all(isinstance(m, keras.metrics.Mean) and type(m).result is keras.metrics.Mean.result
               for m in flat(model.metrics))


def evaluate(model, x, y, batch_size=EVAL_BATCH):
    """Loss and metrics of a compiled model on arrays, as `model.evaluate(..., return_dict=True)`.

    The same numbers as `model.evaluate`, without its per-call cost of
    building an input pipeline (about 90 ms on TensorFlow, whatever the
    size of the set): the set goes through `model.test_on_batch` in parts
    of at most `batch_size` examples, and the parts' metrics are averaged,
    weighted by their sizes. Metrics that are not means over examples
    (AUC, root mean squared error) go through `model.evaluate` when the set
    needs several parts.
    `dlgen.fit` validates after every epoch this way.

    Args:
        model: a compiled `keras.Model`.
        x: array of examples.
        y: array of labels, as long as `x`.
        batch_size: most examples per call.

    Returns:
        A dict of floats, one per compiled metric and the loss, keyed as
        `model.evaluate(..., return_dict=True)` keys them.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    >>> x = np.random.default_rng(0).normal(size=(50, 3)).astype("float32"); y = np.arange(50) % 2
    >>> fast = evaluate(model, x, y, batch_size=16)
    >>> slow = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    >>> sorted(fast), all(abs(fast[k] - slow[k]) < 1e-5 for k in fast)
    (['accuracy', 'loss'], True)
    """
    batch_size = check_int("batch_size", batch_size, 1)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    if len(x) == 0:
        raise ValueError("cannot evaluate on an empty set.")
    parts = _chunks(len(x), batch_size)
    totals = {}
    for i, part in enumerate(parts):
        # test_on_batch resets the metrics first in recent Keras, not in older releases.
        model.reset_metrics()
        out = model.test_on_batch(x[part], y[part], return_dict=True)
        # The compiled metrics exist once a first batch has gone through.
        if i == 0 and len(parts) > 1 and not _mean_metrics(model):
            out = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
            model.reset_metrics()
            return {k: float(v) for k, v in out.items()}
        weight = (part.stop - part.start) / len(x)
        for k, v in out.items():
            totals[k] = totals.get(k, 0.0) + weight * float(v)
    model.reset_metrics()
    return totals


def predict(model, x, batch_size=EVAL_BATCH):
    """The model's outputs on an array, as `model.predict`, without its per-call setup cost.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> x = np.ones((5, 3), "float32")
    >>> bool(np.allclose(predict(model, x, batch_size=2), model.predict(x, verbose=0), atol=1e-6))
    True
    """
    batch_size = check_int("batch_size", batch_size, 1)
    if len(x) == 0:
        raise ValueError("cannot predict on an empty set.")
    return np.concatenate([np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(x[part])))
                           for part in _chunks(len(x), batch_size)])

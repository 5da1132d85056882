"""Tools for chapter 15 (beyond a single task): multi-task models, shifted domains, saliency.

- `FASHION_MNIST_GROUPS` and `coarse_labels`: a coarse label (tops,
  bottoms and dresses, footwear, bags) for each Fashion-MNIST class.
- `build_multitask_mlp` and `fit_multitask`: a shared trunk with one head
  per task, trained on the sum of the heads' losses.
- `shift_images`: a shifted test domain (inverted contrast, noise, rotation).
- `saliency`: the gradient of a class score with respect to the input.
- `plot_confusion`: a confusion matrix as an image with counts.
"""

import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ._checks import check_int
from .callbacks import EpochTimer
from .training import RunRecord, _check_pair

__all__ = ["FASHION_MNIST_GROUPS", "SHIFTS", "build_multitask_mlp", "coarse_labels", "fit_multitask",
           "plot_confusion", "saliency", "shift_images"]

FASHION_MNIST_GROUPS = {
    "tops": (0, 2, 4, 6),               # T-shirt/top, pullover, coat, shirt
    "bottoms and dresses": (1, 3),      # trouser, dress
    "footwear": (5, 7, 9),              # sandal, sneaker, ankle boot
    "bags": (8,),
}
"""Coarse groups of the ten Fashion-MNIST classes, each group name mapped to its class indices."""

SHIFTS = ("invert", "noise", "rotate")
"""Domain shifts that `shift_images` applies."""


def coarse_labels(y, groups=None):
    """The coarse group of each label.

    Args:
        y: integer class labels.
        groups: `{name: class indices}` covering every label once; default
            `FASHION_MNIST_GROUPS`.

    Returns:
        `(coarse, names)`: an integer array like `y` and the group names in
        index order.

    Example:

    >>> coarse, names = coarse_labels(np.array([0, 1, 5, 8, 6]))
    >>> coarse.tolist(), names[0]
    ([0, 1, 2, 3, 0], 'tops')
    """
    groups = FASHION_MNIST_GROUPS if groups is None else groups
    y = np.asarray(y)
    lookup = {}
    for g, members in enumerate(groups.values()):
        for c in members:
            if c in lookup:
                raise ValueError(f"class {c} is in two groups; each class must be in exactly one.")
            lookup[int(c)] = g
    missing = sorted(set(np.unique(y).tolist()) - set(lookup))
    if missing:
        raise ValueError(f"labels {missing} are in no group; groups cover {sorted(lookup)}.")
    return np.array([lookup[int(v)] for v in y.ravel()], dtype="int64").reshape(y.shape), list(groups)


def build_multitask_mlp(input_shape=(28, 28, 1), heads=None, depth=2, units=256, dropout=0.0,
                        name="multitask"):
    """A multilayer perceptron with a shared trunk and one output head per task.

    Args:
        input_shape: shape of one example.
        heads: `{task name: number of classes}`; each head is a Dense layer
            of logits named after its task. Default `{"fine": 10, "coarse": 4}`.
        depth, units, dropout: the trunk, as in `build_mlp`.
        name: model name.

    Returns:
        An uncompiled `keras.Model` whose output is a dict of logits, one entry per task.

    Example:

    >>> m = build_multitask_mlp((8,), {"a": 3, "b": 2}, depth=1, units=4)
    >>> {k: tuple(v.shape) for k, v in m(np.zeros((5, 8), "float32")).items()}
    {'a': (5, 3), 'b': (5, 2)}
    """
    from .models import build_mlp

    heads = {"fine": 10, "coarse": 4} if heads is None else dict(heads)
    if not heads:
        raise ValueError("heads must name at least one task, e.g. {'fine': 10}.")
    for task, n in heads.items():
        if not isinstance(task, str) or not task.isidentifier():
            raise ValueError(f"task names must be identifiers, got {task!r}.")
        check_int(f"heads[{task!r}]", n, 2)
    trunk = build_mlp(input_shape, num_classes=1, depth=depth, units=units, dropout=dropout, name=f"{name}_trunk")
    features = trunk.layers[-2].output          # the last hidden layer, before the trunk's own output
    inputs = trunk.inputs[0]
    outputs = {task: keras.layers.Dense(n, name=task)(features) for task, n in heads.items()}
    return keras.Model(inputs, outputs, name=name)


def _targets(name, data, tasks):
    if data is None:
        return None
    if not isinstance(data, (tuple, list)) or len(data) != 2 or not isinstance(data[1], dict):
        raise ValueError(f"{name} must be a pair (x, {{task: labels}}), got {type(data).__name__}.")
    x, ys = np.asarray(data[0]), {k: np.asarray(v) for k, v in data[1].items()}
    if set(ys) != set(tasks):
        raise ValueError(f"{name} has labels for {sorted(ys)}; the model's tasks are {sorted(tasks)}.")
    for task, y in ys.items():
        _check_pair(f"{name}[{task!r}]", (x, y))
    return x, ys


def fit_multitask(model, train, validation=None, test=None, *, epochs=10, batch_size=64, learning_rate=1e-3,
                  loss_weights=None, seed=None, config=None):
    """Train a model with one output per task (Adam, cross-entropy on each head's logits).

    The loss is the sum of the heads' losses, each times its weight.

    Args:
        model: a model from `build_multitask_mlp` (outputs a dict of logits).
        train, validation, test: `(x, {task: labels})`.
        epochs, batch_size, learning_rate: as in `dlgen.fit`.
        loss_weights: `{task: weight}`; default 1 for each task.
        seed: stored in the record.
        config: extra settings to store in the record.

    Returns:
        A `RunRecord` whose history has `<task>_accuracy` and
        `val_<task>_accuracy` columns, and whose `test` has
        `<task>_accuracy` for each task.

    Example:

    >>> m = build_multitask_mlp((4,), {"a": 2, "b": 3}, depth=1, units=8)
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> r = fit_multitask(m, (x, {"a": (x[:, 0] > 0).astype(int), "b": np.zeros(32, int)}), epochs=2)
    >>> sorted(c for c in r.history.columns if c.endswith("accuracy"))
    ['a_accuracy', 'b_accuracy']
    """
    tasks = list(model.output.keys()) if isinstance(model.output, dict) else list(model.output_names)
    train = _targets("train", train, tasks)
    validation = _targets("validation", validation, tasks)
    test = _targets("test", test, tasks)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    weights = {t: 1.0 for t in tasks} if loss_weights is None else {t: float(loss_weights[t]) for t in tasks}
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={t: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for t in tasks},
        loss_weights=weights,
        metrics={t: ["accuracy"] for t in tasks},
    )
    timer = EpochTimer()
    start = time.perf_counter()
    hist = model.fit(train[0], train[1], validation_data=validation, epochs=epochs, batch_size=batch_size,
                     callbacks=[timer], verbose=0)
    seconds = time.perf_counter() - start
    history = pd.DataFrame(hist.history)
    history["epoch_seconds"] = timer.seconds[: len(history)]
    history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
    results = {}
    if test is not None:
        results = {k: float(v) for k, v in model.evaluate(test[0], test[1], verbose=0, return_dict=True).items()}
    return RunRecord(history, results, seconds, int(model.count_params()),
                     dict(config or {}, tasks=tasks, loss_weights=weights, learning_rate=learning_rate,
                          batch_size=batch_size, epochs=epochs), seed=seed)


def shift_images(x, kind, seed=0, noise_std=0.3):
    """A shifted domain: the same images, changed in a way that keeps their labels.

    Args:
        x: `uint8` images `(n, h, w)` with values 0..255 (as loaded).
        kind: `"invert"` (255 minus each pixel: light items on a dark
            background become dark on light), `"noise"` (Gaussian noise of
            standard deviation `noise_std` times 255, clipped), or
            `"rotate"` (a quarter turn).
        seed: seed of the noise.
        noise_std: noise level, as a fraction of the pixel range.

    Returns:
        `uint8` images of the same shape.

    Example:

    >>> x = np.array([[[0, 255], [10, 20]]], "uint8")
    >>> shift_images(x, "invert")[0].tolist(), shift_images(x, "rotate")[0].tolist()
    ([[255, 0], [245, 235]], [[255, 20], [0, 10]])
    """
    if kind not in SHIFTS:
        raise ValueError(f"kind must be one of {SHIFTS}, got {kind!r}.")
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim != 3:
        raise ValueError(f"x must be uint8 images (n, h, w), got {x.dtype} with shape {x.shape}.")
    if kind == "invert":
        return (255 - x).astype("uint8")
    if kind == "rotate":
        return np.rot90(x, k=1, axes=(1, 2)).copy()
    if not noise_std > 0:
        raise ValueError(f"noise_std must be > 0, got {noise_std!r}.")
    noise = np.random.default_rng(seed).normal(0.0, noise_std * 255.0, size=x.shape)
    return np.clip(x.astype("float64") + noise, 0, 255).astype("uint8")


def saliency(model, x, class_index=None):
    """Gradient of a class score (logit) with respect to each input pixel.

    Args:
        model: a `keras.Model` returning logits (or a dict of them: the
            first output is used).
        x: a batch of inputs (NumPy, float).
        class_index: the class whose score is differentiated, one integer
            for all examples or one per example; default: each example's
            predicted class.

    Returns:
        `(gradients, classes)`: an array of the shape of `x`, and the class
        used for each example.

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((3,), 2, depth=0)
    >>> g, c = saliency(m, np.ones((2, 3), "float32"), class_index=1)
    >>> np.allclose(g[0], m.layers[-1].get_weights()[0][:, 1]), c.tolist()
    (True, [1, 1])
    """
    x = np.asarray(x, dtype="float32")

    def logits_of(inputs):
        out = model(inputs, training=False)
        return next(iter(out.values())) if isinstance(out, dict) else out

    if class_index is None:
        classes = np.asarray(keras.ops.convert_to_numpy(logits_of(x))).argmax(axis=1)
    else:
        classes = np.broadcast_to(np.asarray(class_index, dtype="int64"), (len(x),)).copy()
    mask = np.eye(int(np.asarray(keras.ops.convert_to_numpy(logits_of(x[:1]))).shape[1]), dtype="float32")[classes]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        inputs = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            score = tf.reduce_sum(logits_of(inputs) * mask)
        grads = tape.gradient(score, inputs)
    elif backend == "jax":
        import jax

        grads = jax.grad(lambda inputs: (logits_of(inputs) * mask).sum())(x)
    elif backend == "torch":
        import torch

        inputs = torch.tensor(x, requires_grad=True)
        (logits_of(inputs) * torch.tensor(mask)).sum().backward()
        grads = inputs.grad
    else:
        raise NotImplementedError(f"saliency() supports the tensorflow, jax and torch backends, not {backend!r}.")
    return np.asarray(keras.ops.convert_to_numpy(grads)), classes


def plot_confusion(y_true, y_pred, class_names=None, normalize=True, ax=None):
    """A confusion matrix as an image, true classes in rows.

    Args:
        y_true, y_pred: integer labels.
        class_names: names of the classes, in index order.
        normalize: show each row as fractions of its true class.
        ax: axes to draw on.

    Returns:
        `(ax, matrix)`: the `Axes` and the matrix as a DataFrame (counts, or
        fractions when `normalize`).

    Example:

    >>> ax, m = plot_confusion([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"])
    >>> m.round(2).values.tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    >>> plt.close(ax.figure)
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = int(max(y_true.max(), y_pred.max())) + 1 if class_names is None else len(class_names)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    counts = confusion_matrix(y_true, y_pred, labels=list(range(n)))
    values = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    matrix = pd.DataFrame(values, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * n + 2, 0.55 * n + 1.5))
    ax.imshow(values, cmap="Blues")
    for i in range(n):
        for j in range(n):
            v = values[i, j]
            text = f"{v:.2f}" if normalize else str(v)
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * values.max() else "black")
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted"); ax.set_ylabel("true")
    return ax, matrix

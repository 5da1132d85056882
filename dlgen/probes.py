"""Look inside a network: per-layer activations and gradients.

`activation_stats` uses only Keras (a functional probe model).
`gradients` needs automatic differentiation, which Keras 3 leaves to the
backend; it has one short branch per backend (TensorFlow's `GradientTape`,
`jax.grad` over `stateless_call`, PyTorch's `backward`) and returns NumPy.
"""

import keras
import numpy as np
import pandas as pd

__all__ = ["activation_stats", "gradients", "gradient_stats"]


def _probe_layers(model, layer_names):
    if layer_names is None:
        layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    else:
        known = {layer.name: layer for layer in model.layers}
        missing = [n for n in layer_names if n not in known]
        if missing:
            raise ValueError(f"no layers named {missing} in {model.name!r}; have {list(known)}.")
        layers = [known[n] for n in layer_names]
    if not layers:
        raise ValueError(f"model {model.name!r} has no layers to probe.")
    return layers


def activation_stats(model, x, layer_names=None):
    """Statistics of every layer's output on a batch, in inference mode.

    Args:
        model: a functional `keras.Model` (e.g. from `dlgen.build_mlp`).
        x: a batch of inputs (NumPy).
        layer_names: layers to probe, in order; default: every layer.

    Returns:
        A `DataFrame`, one row per layer, with columns `layer`, `depth`
        (1-based position among the probed layers), `mean`, `std` and
        `frac_zero` (share of exactly-zero outputs).

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((4,), 2, depth=2, units=8)
    >>> stats = activation_stats(m, np.ones((16, 4), "float32"), ["act_1", "act_2"])
    >>> list(stats["layer"])
    ['act_1', 'act_2']
    """
    layers = _probe_layers(model, layer_names)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    probe = keras.Model(inputs, [layer.output for layer in layers])
    outputs = probe(np.asarray(x), training=False)
    if len(layers) == 1:
        outputs = [outputs]
    rows = []
    for depth, (layer, out) in enumerate(zip(layers, outputs), start=1):
        a = keras.ops.convert_to_numpy(out).astype(np.float64)
        rows.append({"layer": layer.name, "depth": depth, "mean": a.mean(), "std": a.std(),
                     "frac_zero": float((a == 0).mean())})
    return pd.DataFrame(rows)


def gradients(model, x, y, loss=None):
    """Gradients of the loss on one batch with respect to every trainable weight.

    The forward pass runs in inference mode (no dropout), so the result is
    deterministic.

    Args:
        model: a `keras.Model`.
        x, y: a batch of inputs and targets (NumPy).
        loss: a Keras loss; default: sparse categorical cross-entropy on
            logits (or on probabilities if the last layer has softmax).

    Returns:
        A dict of NumPy arrays, gradient by variable path (`variable.path`), in the order of
        `model.trainable_variables`.

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((3,), 2, depth=1, units=4)
    >>> g = gradients(m, np.ones((5, 3), "float32"), np.zeros(5, "int64"))
    >>> g["dense_1/kernel"].shape
    (3, 4)
    """
    from .training import _default_loss

    loss = loss or _default_loss(model)
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    variables = model.trainable_variables
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=False))
        grads = tape.gradient(value, variables)
    elif backend == "jax":
        import jax

        trainable = [v.value for v in variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(weights):
            y_pred, _ = model.stateless_call(weights, non_trainable, x, training=False)
            return loss(y, y_pred)

        grads = jax.grad(loss_of)(trainable)
    elif backend == "torch":
        for v in variables:
            v.value.grad = None
        value = loss(y, model(x, training=False))
        value.backward()
        grads = [v.value.grad for v in variables]
    else:
        raise NotImplementedError(
            f"gradients() supports the tensorflow, jax and torch backends, not {backend!r}."
        )
    out = {}
    for v, g in zip(variables, grads):
        out[v.path] = (np.zeros(v.shape, dtype=np.float32) if g is None
                       else np.asarray(keras.ops.convert_to_numpy(g)))
    return out


def gradient_stats(model, x, y, loss=None, kernels_only=True):
    """Per-layer size of the loss gradient on one batch.

    Args:
        model, x, y, loss: as in `gradients`.
        kernels_only: keep only weight matrices (`.../kernel`), not biases or
            batch-norm parameters.

    Returns:
        A `DataFrame` with columns `variable`, `layer`, `depth` (1-based),
        `norm` (Frobenius norm), `std`, `max_abs` and `frac_zero`.

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((3,), 2, depth=2, units=4)
    >>> s = gradient_stats(m, np.ones((5, 3), "float32"), np.zeros(5, "int64"))
    >>> list(s["layer"])
    ['dense_1', 'dense_2', 'logits']
    """
    rows = []
    for path, g in gradients(model, x, y, loss).items():
        if kernels_only and not path.endswith("kernel"):
            continue
        g = g.astype(np.float64)
        rows.append({"variable": path, "layer": path.split("/")[-2], "norm": float(np.linalg.norm(g)),
                     "std": float(g.std()), "max_abs": float(np.abs(g).max()),
                     "frac_zero": float((g == 0).mean())})
    frame = pd.DataFrame(rows)
    frame.insert(2, "depth", range(1, len(frame) + 1))
    return frame

"""Checks to run before training: catch a broken setup in seconds, not after an hour.

`preflight(model, (x, y))` runs the checks of Karpathy's "A Recipe for
Training Neural Networks" (2019) that a program can decide, on a small
sample of the training data, and returns a table with one row per check,
its number, what passes and whether it does:

- **loss at initialization**: an untrained classifier should be unsure,
  with a cross-entropy near ln C for C classes. Far above it, the network is
  confidently wrong from the start (badly scaled initial weights or inputs,
  chapter 1); far below it, the labels leak into the inputs.
- **labels**: every label is a valid class, every class appears, and the
  share of the largest class, which is the accuracy of an input-independent
  guess.
- **overfit one batch**: a copy of the model, trained on one small batch
  for a few dozen steps, must fit it (training accuracy 1 on it, or a loss
  a tenth of its start). A network that cannot memorize 16 examples will
  not learn 60,000: its gradients do not reach the weights, or the learning
  rate is wrong, or the labels do not belong to the images.
- **inputs matter**: the same copy trained on the batch with its inputs set
  to zero can only learn the label frequencies; with the real inputs it must
  end clearly lower (below half of that loss). If it does not, the inputs
  carry nothing the network can use (a pipeline that feeds blanks, labels
  shuffled apart from their images).
- **gradient flow**: the gradient of the loss reaches every layer's weights:
  no layer's gradient norm is zero or below `vanishing` (1e-4) times the
  largest layer's (vanishing gradients, chapter 2).
- **dead units**: in the layers with a ReLU, no more than half of the units
  are zero for every example of the sample (dying ReLU).

The model itself is never changed: the training checks train a clone
(`keras.models.clone_model`, with the model's weights).
"""

import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from ._checks import check_int

__all__ = ["Preflight", "preflight"]


@dataclass
class Preflight:
    """The result of `preflight`: one row per check.

    Attributes:
        checks: a DataFrame with columns `check`, `value`, `passes if`,
            `passed` and `detail`.

    >>> p = Preflight(pd.DataFrame([{"check": "labels", "value": 0.1, "passes if": "...", "passed": False,
    ...                              "detail": "class 3 missing"}]))
    >>> p.passed, p.failed
    (False, ['labels'])
    """

    checks: pd.DataFrame

    @property
    def passed(self):
        """Whether every check passed."""
        return bool(self.checks["passed"].all())

    @property
    def failed(self):
        """The names of the checks that failed."""
        return self.checks.loc[~self.checks["passed"], "check"].tolist()

    def __getitem__(self, name):
        rows = self.checks[self.checks["check"] == name]
        if rows.empty:
            raise KeyError(f"no check {name!r}; the checks are {self.checks['check'].tolist()}.")
        return rows.iloc[0]

    def __str__(self):
        lines = [f"preflight: {'all checks pass' if self.passed else 'failed: ' + ', '.join(self.failed)}"]
        for _, r in self.checks.iterrows():
            lines.append(f"- [{'pass' if r['passed'] else 'FAIL'}] {r['check']}: {r['value']:.4g} "
                         f"(passes if {r['passes if']}); {r['detail']}")
        return "\n".join(lines)

    def _repr_html_(self):
        return self.checks.to_html(index=False, float_format=lambda v: f"{v:.4g}")


def _loss_fn(model, loss):
    if loss is not None:
        return keras.losses.get(loss) if isinstance(loss, str) else loss
    compiled = getattr(model, "loss", None)
    if compiled is not None and not isinstance(compiled, (list, dict)):
        return keras.losses.get(compiled) if isinstance(compiled, str) else compiled
    from .training import _default_loss

    return _default_loss(model)


def _train_copy(model, loss, x, y, steps, learning_rate):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    first = None
    for _ in range(steps):
        value = copy.train_on_batch(x, y)
        value = float(value[0] if isinstance(value, (list, tuple)) else value)
        first = value if first is None else first
    probs = keras.ops.convert_to_numpy(copy(x, training=False))
    final = float(keras.ops.convert_to_numpy(loss(y, probs)))
    accuracy = float((probs.argmax(axis=-1) == y).mean())
    return first, final, accuracy


def _relu_layers(model):
    out = []
    for layer in model.layers:
        act = getattr(layer, "activation", None)
        name = getattr(act, "__name__", "")
        if isinstance(layer, keras.layers.ReLU) or name == "relu":
            out.append(layer)
    return out


def preflight(model, data, classes=None, loss=None, batch_size=16, steps=60, learning_rate=1e-3,
              init_tolerance=0.25, vanishing=1e-4, dead_share=0.5, seed=0):
    """Check a classifier and its data before training (see the module docstring).

    Args:
        model: a functional or sequential `keras.Model` (not trained by this
            function: the training checks use a clone).
        data: `(x, y)`, a sample of the training data (a few hundred examples
            is plenty), integer labels.
        classes: the number of classes; default: the width of the model's output.
        loss: the loss; default: the model's compiled loss, else sparse
            cross-entropy (on logits, or on probabilities after a softmax).
        batch_size: the size of the batch to overfit.
        steps: the training steps on that batch (Adam at `learning_rate`).
        init_tolerance: the loss at initialization passes within this share of ln C.
        vanishing: a layer's gradient norm below this times the largest one's fails.
        dead_share: a ReLU layer with more than this share of dead units fails.
        seed: picks the batch.

    Returns:
        A `Preflight`; `str()` of it prints one line per check.

    Example:

    >>> from dlgen.models import build_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> report = preflight(build_mlp((8,), 2, depth=1, units=32), (x, y))
    >>> report.checks["check"].tolist()
    ['loss at initialization', 'labels', 'overfit one batch', 'inputs matter', 'gradient flow', 'dead units']
    """
    with warnings.catch_warnings():
        # a functional model with a named input, called on an array, says so once per call
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match", category=UserWarning)
        return _preflight(model, data, classes, loss, batch_size, steps, learning_rate, init_tolerance,
                          vanishing, dead_share, seed)


def _preflight(model, data, classes=None, loss=None, batch_size=16, steps=60, learning_rate=1e-3,
              init_tolerance=0.25, vanishing=1e-4, dead_share=0.5, seed=0):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"data must be (x, y), a sample of the training data; got {type(data).__name__}.")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    batch_size = check_int("batch_size", batch_size, 2)
    steps = check_int("steps", steps, 1)
    if len(x) < batch_size:
        raise ValueError(f"data has {len(x)} examples; preflight needs at least batch_size={batch_size}.")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be integer class labels, one per example; got shape {y.shape}, dtype {y.dtype}.")
    if classes is None:
        shape = getattr(model, "output_shape", None)
        if not (isinstance(shape, tuple) and isinstance(shape[-1], int) and shape[-1] > 1):
            raise ValueError("cannot read the number of classes from the model's output; pass classes=.")
        classes = shape[-1]
    classes = check_int("classes", classes, 2)
    loss = _loss_fn(model, loss)
    rows = []

    def add(check, value, passes_if, passed, detail):
        rows.append({"check": check, "value": float(value), "passes if": passes_if, "passed": bool(passed),
                     "detail": detail})

    # loss at initialization
    chance = math.log(classes)
    out = model(x, training=False)
    init = float(keras.ops.convert_to_numpy(loss(y, out)))
    add("loss at initialization", init, f"within {init_tolerance:.0%} of ln {classes} = {chance:.3f}",
        abs(init - chance) <= init_tolerance * chance,
        "far above: confidently wrong from the start (the scale of the initial weights or of the inputs); "
        "far below: the labels leak into the inputs" if abs(init - chance) > init_tolerance * chance else
        "an untrained network is as unsure as it should be")

    # labels
    counts = np.bincount(y[(y >= 0) & (y < classes)], minlength=classes)
    invalid = int(((y < 0) | (y >= classes)).sum())
    missing = [int(c) for c in np.flatnonzero(counts == 0)]
    majority = counts.max() / max(counts.sum(), 1)
    prior = counts[counts > 0] / counts.sum()
    entropy = float(-(prior * np.log(prior)).sum())
    add("labels", majority, f"labels in 0..{classes - 1}, every class present", invalid == 0 and not missing,
        f"{invalid} invalid label(s); classes missing from the sample: {missing or 'none'}; the largest class "
        f"is {majority:.1%} of the sample (the accuracy of an input-independent guess, whose loss is "
        f"{entropy:.3f})")

    # overfit one batch, and the same batch with blank inputs
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=batch_size, replace=False)
    xb, yb = x[pick], y[pick]
    keras.utils.set_random_seed(seed)
    first, final, acc = _train_copy(model, loss, xb, yb, steps, learning_rate)
    fits = acc == 1.0 or final <= 0.1 * first
    add("overfit one batch", final / first if first else math.nan,
        f"training accuracy 1 on the batch, or a loss a tenth of its start, after {steps} steps", fits,
        f"{batch_size} examples, Adam at {learning_rate:g}: loss {first:.3g} -> {final:.3g}, accuracy {acc:.2f}")
    keras.utils.set_random_seed(seed)
    _, blank, _ = _train_copy(model, loss, np.zeros_like(xb), yb, steps, learning_rate)
    add("inputs matter", final / blank if blank else math.nan, "below 0.5: real inputs end far below blank ones",
        blank > 0 and final < 0.5 * blank,
        f"after the same steps, loss {final:.3g} with the real inputs, {blank:.3g} with inputs set to zero "
        "(which can only learn the label frequencies)")

    # gradient flow
    from .probes import gradient_stats

    sample = x[: max(batch_size, min(len(x), 256))]
    grads = gradient_stats(model, sample, y[: len(sample)], loss)
    if not grads.empty:
        largest = float(grads["norm"].max())
        ratio = grads["norm"] / largest if largest > 0 else grads["norm"] * 0
        weakest = grads.loc[ratio.idxmin()]
        add("gradient flow", float(ratio.min()),
            f"every layer at least {vanishing:g} of the largest gradient norm, the largest at least 1e-7",
            largest >= 1e-7 and float(ratio.min()) >= vanishing,
            f"weakest layer {weakest['layer']} (norm {weakest['norm']:.3g}), largest {largest:.3g}")

    # dead ReLU units
    relus = _relu_layers(model)
    if relus:
        try:
            probe = keras.Model(model.inputs, [layer.output for layer in relus])
            outs = probe(sample, training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            shares = {}
            for layer, a in zip(relus, outs):
                a = keras.ops.convert_to_numpy(a).reshape(len(sample), -1)
                shares[layer.name] = float((a <= 0).all(axis=0).mean())
            worst = max(shares, key=shares.get)
            add("dead units", shares[worst], f"at most {dead_share:.0%} of a ReLU layer's units are zero for every example",
                shares[worst] <= dead_share,
                f"most dead: {worst} ({shares[worst]:.0%} of its units output 0 for all {len(sample)} examples)")
        except (ValueError, AttributeError, TypeError):
            pass   # a subclassed model has no symbolic layer outputs to probe
    return Preflight(pd.DataFrame(rows))

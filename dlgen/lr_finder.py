"""The learning-rate range test: one short run with a rising learning rate.

Train for `steps` mini-batches while the learning rate grows geometrically
from `min_lr` to `max_lr`, and record the loss of every batch. The loss
first barely moves (rate too small), then falls fast, then turns and
explodes (rate too large). A good rate sits where the loss falls fastest,
well below the point where it turns.
"""

import keras
import numpy as np
import pandas as pd

from ._checks import check_int
from .training import _default_loss, _optimizer

__all__ = ["LRRangeTest", "lr_range_test", "suggest_learning_rate"]


class LRRangeTest(keras.callbacks.Callback):
    """Set a geometrically rising learning rate before each batch and record each batch's loss.

    Keras reports in `on_train_batch_end` the running mean of the loss over
    the epoch so far; with batches of equal size the loss of batch `k` is
    `k * mean_k - (k - 1) * mean_(k-1)`, which is what is recorded. Training
    stops early once the loss exceeds `diverge_factor` times the smallest
    loss seen (or is not finite).

    Attributes (after training):
        learning_rates, losses: one entry per batch run.

    Example (`lr_range_test` wraps it; this is what it does):

    >>> finder = LRRangeTest(min_lr=1e-5, max_lr=1.0, steps=100)
    >>> model.fit(x, y, epochs=1, batch_size=64, callbacks=[finder])  # doctest: +SKIP
    >>> finder.learning_rates[:2], finder.losses[:2]  # doctest: +SKIP
    """

    def __init__(self, min_lr, max_lr, steps, diverge_factor=4.0):
        super().__init__()
        if not 0 < min_lr < max_lr:
            raise ValueError(f"need 0 < min_lr < max_lr, got min_lr={min_lr!r}, max_lr={max_lr!r}.")
        self.steps = check_int("steps", steps, 2)
        self.schedule = np.geomspace(min_lr, max_lr, self.steps)
        self.diverge_factor = float(diverge_factor)

    def on_train_begin(self, logs=None):
        self.learning_rates, self.losses = [], []
        self._previous_mean = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(float(self.schedule[min(batch, self.steps - 1)]))

    def on_train_batch_end(self, batch, logs=None):
        mean = float(logs["loss"])
        k = batch + 1
        loss = k * mean - (k - 1) * self._previous_mean
        self._previous_mean = mean
        self.learning_rates.append(float(self.schedule[min(batch, self.steps - 1)]))
        self.losses.append(loss)
        finite = [v for v in self.losses if np.isfinite(v)]
        if not np.isfinite(loss) or (finite and loss > self.diverge_factor * min(finite)):
            self.model.stop_training = True


def lr_range_test(model, train, *, min_lr=1e-5, max_lr=10.0, steps=100, batch_size=64,
                  optimizer="SGD", loss=None, smoothing=0.1, diverge_factor=4.0, seed=0):
    """Run a learning-rate range test on `model` and return the loss against the rate.

    The model's weights are changed by the test: build a fresh model for
    the real training run.

    Args:
        model: an uncompiled `keras.Model`.
        train: `(x, y)` training arrays; examples are drawn in a shuffled
            order (repeated if `steps * batch_size` exceeds the set).
        min_lr, max_lr: the first and last learning rate.
        steps: number of batches (at least 2).
        batch_size: positive integer.
        optimizer: a Keras optimizer name or a fresh instance.
        loss: a Keras loss (default as in `dlgen.fit`).
        smoothing: weight of the newest batch in the exponential moving
            average of the loss (in (0, 1]; 1 means no smoothing).
        diverge_factor: stop once a batch's loss exceeds this many times
            the smallest loss so far.
        seed: seed of the example order.

    Returns:
        A DataFrame with columns `learning_rate`, `loss` (each batch) and
        `smoothed_loss` (bias-corrected moving average), one row per batch
        run; see `suggest_learning_rate`.

    Example:

    >>> from dlgen.models import build_mlp
    >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> frame = lr_range_test(build_mlp((4,), 2, depth=1, units=8), (x, y), steps=20, batch_size=32)
    >>> list(frame.columns), bool(frame["learning_rate"].is_monotonic_increasing)
    (['learning_rate', 'loss', 'smoothed_loss'], True)
    """
    steps = check_int("steps", steps, 2)
    batch_size = check_int("batch_size", batch_size, 1)
    if not 0 < float(smoothing) <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}.")
    x, y = np.asarray(train[0]), np.asarray(train[1])
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"train must be a non-empty pair (x, y) of equal length, got {len(x)} and {len(y)}.")
    rng = np.random.default_rng(seed)
    need = steps * batch_size
    order = np.concatenate([rng.permutation(len(x)) for _ in range(-(-need // len(x)))])[:need]
    finder = LRRangeTest(min_lr, max_lr, steps, diverge_factor)
    opt = _optimizer(optimizer, float(min_lr) if isinstance(optimizer, str) else None)
    model.compile(optimizer=opt, loss=loss or _default_loss(model))
    model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False,
              callbacks=[finder], verbose=0)
    losses = np.asarray(finder.losses, dtype=float)
    beta = 1.0 - float(smoothing)
    avg, smoothed = 0.0, []
    for i, v in enumerate(losses, start=1):
        avg = beta * avg + (1 - beta) * (v if np.isfinite(v) else np.inf)
        smoothed.append(avg / (1 - beta ** i) if beta > 0 else avg)
    return pd.DataFrame({"learning_rate": finder.learning_rates, "loss": losses,
                         "smoothed_loss": smoothed})


def suggest_learning_rate(frame):
    """A learning rate read off a range test: where the smoothed loss falls fastest.

    The steepest descent of the smoothed loss against log10 of the rate,
    searched only up to the rate of the smallest smoothed loss (beyond it
    the loss is turning). A common, more conservative alternative is a
    tenth of the rate at the minimum; both are starting points to confirm
    with a short sweep, not answers.

    Example:

    >>> lr = np.geomspace(1e-4, 1, 50)
    >>> frame = pd.DataFrame({"learning_rate": lr, "smoothed_loss": 2 - np.tanh(np.log10(lr) + 2.5)})
    >>> round(suggest_learning_rate(frame), 4)  # the grid point nearest 10 ** -2.5
    0.0029
    """
    missing = {"learning_rate", "smoothed_loss"} - set(frame.columns)
    if missing:
        raise KeyError(f"missing columns {sorted(missing)}; pass the frame of lr_range_test.")
    if len(frame) < 3:
        raise ValueError(f"need at least 3 rows to find a slope, got {len(frame)}.")
    lr = frame["learning_rate"].to_numpy(dtype=float)
    sm = frame["smoothed_loss"].to_numpy(dtype=float)
    stop = int(np.nanargmin(np.where(np.isfinite(sm), sm, np.nan))) + 1
    if stop < 3:
        raise ValueError("the loss is smallest at the first rates: start the test at a smaller min_lr.")
    slope = np.gradient(sm[:stop], np.log10(lr[:stop]))
    return float(lr[int(np.argmin(slope))])

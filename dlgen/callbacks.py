"""Keras callbacks used across the book."""

import time

import keras
import numpy as np

from ._checks import check_int, metric_mode
from .evaluation import evaluate, predict

__all__ = ["EpochTimer", "HeldOutEvaluation", "TargetReached"]


class EpochTimer(keras.callbacks.Callback):
    """Record each epoch's wall-clock seconds in the training logs.

    The value is written into `logs["epoch_seconds"]`, so it lands in the
    `History` (and in the history table of a `dlgen` run record) next to
    the loss and metrics. Its state is reset in `on_train_begin`, so one
    instance can be reused across `fit` calls.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> h = model.fit(np.zeros((8, 3)), np.zeros(8), epochs=2, verbose=0,
    ...               callbacks=[EpochTimer()])
    >>> len(h.history["epoch_seconds"])
    2
    """

    def on_train_begin(self, logs=None):
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        self.seconds.append(elapsed)
        if logs is not None:
            logs["epoch_seconds"] = elapsed


class HeldOutEvaluation(keras.callbacks.Callback):
    """Evaluate the model on a further held-out set after every epoch, into the logs.

    Adds `<prefix>_loss` and `<prefix>_<metric>` for every compiled metric
    to the epoch's logs (so they land in the `History` next to `val_loss`).
    The book uses it to *show* what a test set would have said at each
    epoch, for instance how optimistic the best validation score is. Never
    select anything on these columns: that turns the test set into a
    second validation set.

    Args:
        data: `(x, y)` arrays.
        prefix: name prefix of the new log entries (not `"val"`, which
            Keras uses for the validation set).
        batch_size: evaluation batch size.
        keep_predictions: also keep each epoch's predicted classes (the
            argmax of the model's output) in `predictions`, one array per
            epoch, e.g. to study selection among checkpoints example by
            example.
        every: evaluate only after the first and every `every`-th epoch;
            other epochs log NaN (saves time on runs of many short epochs).

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x = np.zeros((8, 3)); y = np.ones(8)
    >>> h = model.fit(x, y, epochs=2, verbose=0, callbacks=[HeldOutEvaluation((x, y))])
    >>> sorted(h.history), len(h.history["test_loss"])
    (['loss', 'test_loss'], 2)
    """

    def __init__(self, data, prefix="test", batch_size=1024, keep_predictions=False, every=1):
        super().__init__()
        if not (isinstance(data, (tuple, list)) and len(data) == 2 and len(data[0]) == len(data[1])):
            raise ValueError("data must be a pair (x, y) of equal length.")
        if not isinstance(prefix, str) or not prefix.isidentifier() or prefix == "val":
            raise ValueError(f"prefix must be an identifier other than 'val', got {prefix!r}.")
        self.data = data
        self.prefix = prefix
        self.batch_size = int(batch_size)
        self.keep_predictions = bool(keep_predictions)
        self.every = check_int("every", every, 1)
        self._names = []
        self.predictions = []

    def on_train_begin(self, logs=None):
        self.predictions = []

    def on_epoch_end(self, epoch, logs=None):
        if epoch > 0 and (epoch + 1) % self.every:
            if logs is not None:
                for name in self._names:
                    logs[name] = float("nan")
            return
        if self.keep_predictions:
            out = predict(self.model, self.data[0], batch_size=self.batch_size)
            self.predictions.append(np.asarray(out).argmax(axis=-1))
        results = evaluate(self.model, self.data[0], self.data[1], batch_size=self.batch_size)
        self._names = [f"{self.prefix}_{name}" for name in results]
        if logs is not None:
            for name, value in results.items():
                logs[f"{self.prefix}_{name}"] = float(value)


class TargetReached(keras.callbacks.Callback):
    """Stop training at the end of the first epoch where `monitor` reaches `target`.

    For measuring time to a target accuracy: the run stops there instead
    of spending its remaining epochs. Reached means `>=` for a metric where
    higher is better, `<=` for one where lower is: `mode` is `"max"`,
    `"min"` or `"auto"` (inferred from the name, as in Keras's callbacks:
    `loss`, `mae`, ... lower; `accuracy`, `auc`, ... higher; a name it
    cannot place raises). `reached_epoch` is the 1-based epoch where it
    happened (`None` if it never did).

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> stop = TargetReached("loss", 0.01)
    >>> h = model.fit(np.ones((8, 1)), np.ones(8), epochs=500, verbose=0, callbacks=[stop])
    >>> len(h.history["loss"]) == stop.reached_epoch < 500
    True
    """

    def __init__(self, monitor="val_accuracy", target=0.8, mode="auto"):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be the name of a logged metric, got {monitor!r}.")
        if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) \
                or not np.isfinite(target):
            raise ValueError(f"target must be a finite number, got {target!r}.")
        self.monitor, self.target = monitor, float(target)
        self.mode = metric_mode(monitor, mode)
        self.reached_epoch = None

    def on_train_begin(self, logs=None):
        self.reached_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"{self.monitor!r} is not in the logs (logged: {', '.join(sorted(logs))}); "
                           "pass validation data for a val_ metric.")
        value = float(logs[self.monitor])
        reached = value <= self.target if self.mode == "min" else value >= self.target
        if reached:
            self.reached_epoch = epoch + 1
            self.model.stop_training = True

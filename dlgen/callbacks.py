"""Keras callbacks used across the book."""

import time
import warnings

import keras
import numpy as np

from ._checks import check_int, metric_mode
from .evaluation import evaluate, predict

__all__ = ["DiagnoseCallback", "DiagnosisWarning", "EpochTimer", "HeldOutEvaluation", "TargetReached"]


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


class DiagnosisWarning(UserWarning):
    """Issued by `DiagnoseCallback` when the doctor's verdict on a run changes.

    Silence it like any warning:

    >>> import warnings
    >>> warnings.simplefilter("ignore", DiagnosisWarning)
    >>> _ = warnings.simplefilter("default", DiagnosisWarning)
    """


class DiagnoseCallback(keras.callbacks.Callback):
    """Run the training doctor (`dlgen.diagnose`) at the end of every epoch.

    The curves so far (the logs of every epoch, with validation data) are
    read again after each epoch from `min_epochs` on. The verdict is written
    into `logs["diagnosis"]` as a number, so that the progress bar,
    `CSVLogger` and `TensorBoard` take it like any metric (`verdict_of(code)`
    names it: -1 before `min_epochs`, else the position in
    `dlgen.diagnose.VERDICTS`); at the end of training the `History` gets the
    verdicts by name. The whole `Diagnosis` is kept in `self.diagnosis`, and
    each verdict in `self.verdicts`. When the verdict changes to one
    that is not in `quiet`, one `DiagnosisWarning` says so, with the finding
    and the first remedy. With `stop=True` a verdict in `stop_on` ends
    training, as `keras.callbacks.TerminateOnNaN` does for a NaN loss.

    Args:
        classes: the number of classes, for the chance level; default: the
            width of the model's output (when it has more than one unit).
        metric, target, thresholds: as in `dlgen.diagnose`.
        min_epochs: the first epoch at which the curves are read (at least 3; by default 5,
            so that a slow first few epochs are not called stuck).
        quiet: verdicts that change silently: `"not converged"` is what a run
            in progress normally is.
        stop: whether to stop training on a verdict in `stop_on`.
        stop_on: the verdicts that stop training when `stop` is set.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    >>> x, y = np.zeros((32, 4), "float32"), np.zeros(32, "int64")
    >>> doctor = DiagnoseCallback(quiet=("healthy", "not converged", "stuck"))
    >>> h = model.fit(x, y, validation_data=(x, y), epochs=6, verbose=0, callbacks=[doctor])
    >>> len(h.history["diagnosis"]), doctor.verdicts[0]
    (6, 'not read yet')
    """

    def __init__(self, classes=None, metric="auto", target=None, thresholds=None, min_epochs=5,
                 quiet=("healthy", "not converged"), stop=False, stop_on=("stuck", "diverging")):
        super().__init__()
        from .diagnose import THRESHOLDS, VERDICTS

        self.min_epochs = check_int("min_epochs", min_epochs, 3)
        for name, values in (("quiet", quiet), ("stop_on", stop_on)):
            bad = [v for v in values if v not in VERDICTS]
            if bad:
                raise ValueError(f"{name} names unknown verdicts {bad}; the verdicts are {list(VERDICTS)}.")
        unknown = sorted(set(thresholds or {}) - set(THRESHOLDS))
        if unknown:
            raise ValueError(f"unknown thresholds {unknown}; allowed: {', '.join(THRESHOLDS)}.")
        self.classes, self.metric, self.target, self.thresholds = classes, metric, target, thresholds
        self.quiet, self.stop, self.stop_on = tuple(quiet), bool(stop), tuple(stop_on)
        self._codes = ("not read yet",) + tuple(VERDICTS)

    def on_train_begin(self, logs=None):
        self.rows, self.verdicts, self.diagnosis = [], [], None
        self._last = None
        self.stopped_on = None

    def _classes(self):
        if self.classes is not None:
            return self.classes
        shape = getattr(self.model, "output_shape", None)
        if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[-1], int) and shape[-1] > 1:
            return shape[-1]
        return None

    def on_epoch_end(self, epoch, logs=None):
        from .diagnose import diagnose

        logs = logs if logs is not None else {}
        row = {}
        for k, v in logs.items():
            if k != "diagnosis" and np.size(v) == 1:
                try:
                    row[k] = float(v)
                except (TypeError, ValueError):
                    pass
        self.rows.append(row)
        if "val_loss" not in row:
            raise ValueError("DiagnoseCallback reads the validation loss: fit with validation_data= "
                             "(or validation_split=).")
        verdict = "not read yet"
        if len(self.rows) >= self.min_epochs:
            import pandas as pd

            self.diagnosis = diagnose(pd.DataFrame(self.rows), metric=self.metric, thresholds=self.thresholds,
                                      classes=self._classes(), target=self.target)
            verdict = self.diagnosis.verdict
            if verdict != self._last and verdict not in self.quiet:
                first = self.diagnosis.remedies[0][0] if self.diagnosis.remedies else "none"
                warnings.warn(f"epoch {epoch + 1}: the training doctor now says {verdict!r}: "
                              f"{self.diagnosis.findings[verdict]}. First remedy: {first}.",
                              DiagnosisWarning, stacklevel=2)
            self._last = verdict
            if self.stop and verdict in self.stop_on:
                self.model.stop_training = True
                self.stopped_on = (epoch + 1, verdict)
        self.verdicts.append(verdict)
        # a number in the logs, which the progress bar averages and CSVLogger and TensorBoard write
        logs["diagnosis"] = float(self._codes.index(verdict) - 1)

    def on_train_end(self, logs=None):
        history = getattr(self.model, "history", None)
        if isinstance(getattr(history, "history", None), dict) and "diagnosis" in history.history:
            history.history["diagnosis"] = list(self.verdicts)[-len(history.history["diagnosis"]):]

    @staticmethod
    def verdict_of(code):
        """The verdict a `diagnosis` code in the logs stands for (-1: not read yet).

        >>> DiagnoseCallback.verdict_of(0), DiagnoseCallback.verdict_of(-1)
        ('diverging', 'not read yet')
        """
        from .diagnose import VERDICTS

        return (("not read yet",) + tuple(VERDICTS))[int(code) + 1]

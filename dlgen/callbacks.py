"""Keras callbacks used across the book."""

import time

import keras

__all__ = ["EpochTimer"]


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

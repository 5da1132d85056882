"""Compile, train and evaluate in one call, and the record it returns."""

import dataclasses
import time

import keras
import numpy as np
import pandas as pd

from ._checks import check_int
from .cache import to_jsonable
from .callbacks import EpochTimer
from .distribute import replicas, resolve, scope
from .evaluation import EVAL_BATCH, evaluate

__all__ = ["OPTIMIZERS", "RunRecord", "fit", "make_optimizer"]


@dataclasses.dataclass
class RunRecord:
    """What one training run produced.

    Attributes:
        history: one row per epoch (index `epoch`, starting at 1), columns as
            in `keras.callbacks.History` (`loss`, `accuracy`, `val_loss`, ...,
            plus `epoch_seconds`).
        test: test-set metrics from `model.evaluate`, e.g.
            `{"loss": 0.41, "accuracy": 0.86}`; empty without test data.
        seconds: wall-clock seconds spent in `model.fit`.
        params: number of parameters of the model.
        config: the settings of the run (JSON-serializable).
        name: label of the configuration (set by `dlgen.run_sweep`).
        seed: the seed of the run, if known.
        train_eval: metrics on the training set measured after training in
            inference mode (`model.evaluate`), e.g. `{"accuracy": 1.0}`. The
            `accuracy` column of the history is a running average over the
            epoch in *training* mode, with dropout active, so it understates
            how well a dropout model fits its training data.
        extra: further measurements a run function adds after training
            (JSON-serializable: numbers, strings, lists, dicts), e.g. a
            calibration table; stored in the results cache with the rest.

    Example:

    >>> h = pd.DataFrame({"loss": [0.9, 0.5, 0.3], "accuracy": [0.7, 0.85, 0.95],
    ...                   "val_loss": [0.8, 0.6, 0.7], "val_accuracy": [0.72, 0.8, 0.79]})
    >>> r = RunRecord(h, {"accuracy": 0.78}, 2.0, 1000, {"units": 64})
    >>> round(r.gap(), 2), r.best_epoch("val_loss"), r.epochs_to(0.8)
    (0.16, 2, 2)
    >>> RunRecord.from_dict(r.to_dict()).test
    {'accuracy': 0.78}
    """

    history: pd.DataFrame
    test: dict
    seconds: float
    params: int
    config: dict
    name: str = ""
    seed: int | None = None
    train_eval: dict = dataclasses.field(default_factory=dict)
    extra: dict = dataclasses.field(default_factory=dict)

    def final(self, column):
        """Value of a history column at the last epoch.

        Example:

        >>> r = RunRecord(pd.DataFrame({"loss": [2.0, 1.0]}), {}, 0.1, 10, {})
        >>> r.final("loss")
        1.0
        """
        values = self._column(column)
        if self.history.empty:
            raise ValueError("the history is empty (the run trained for 0 epochs).")
        return float(values.iloc[-1])

    def _column(self, column):
        if column not in self.history.columns:
            raise KeyError(
                f"no column {column!r} in the history; have {list(self.history.columns)}."
            )
        return self.history[column]

    def gap(self, metric="accuracy"):
        """Generalization gap at the last epoch: train minus validation.

        The training value is taken from `train_eval` (inference mode) when
        it is there, else from the history. For a loss (`metric="loss"`) the
        gap is validation minus train, so that a positive gap always means
        the model does better on what it trained on.

        Example:

        >>> h = pd.DataFrame({"accuracy": [0.9, 1.0], "val_accuracy": [0.8, 0.85]})
        >>> round(RunRecord(h, {}, 0.0, 0, {}).gap(), 2)
        0.15
        """
        val = self.final(f"val_{metric}")
        train = self.train_eval[metric] if metric in self.train_eval else self.final(metric)
        return val - train if metric == "loss" else train - val

    def best_epoch(self, monitor="val_loss", mode="min"):
        """Epoch (1-based) at which `monitor` was best."""
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        values = self._column(monitor).to_numpy(dtype=float)
        if np.isnan(values).all():
            raise ValueError(f"{monitor} has no finite value to pick an epoch from.")
        return int(np.nanargmin(values) if mode == "min" else np.nanargmax(values)) + 1

    def epochs_to(self, target, column="val_accuracy", mode="max"):
        """First epoch (1-based) at which `column` reaches `target`, or `None`.

        With `mode="max"` (accuracies) the target is reached when the value
        is at least `target`; with `mode="min"` (losses), at most `target`.

        Example:

        >>> h = pd.DataFrame({"val_accuracy": [0.5, 0.8, 0.9], "val_loss": [1.0, 0.6, 0.4]})
        >>> r = RunRecord(h, {}, 0.0, 0, {})
        >>> r.epochs_to(0.8), r.epochs_to(0.5, "val_loss", mode="min"), r.epochs_to(0.95)
        (2, 3, None)
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
        values = self._column(column).to_numpy(dtype=float)
        reached = values >= target if mode == "max" else values <= target
        hits = np.flatnonzero(reached)
        return int(hits[0]) + 1 if len(hits) else None

    def to_dict(self):
        """A JSON-serializable dict (see `from_dict`)."""
        return {
            "history": {c: [float(v) for v in self.history[c]] for c in self.history.columns},
            "test": {k: float(v) for k, v in self.test.items()},
            "seconds": float(self.seconds),
            "params": int(self.params),
            "config": to_jsonable(self.config, "RunRecord.config"),
            "name": str(self.name),
            "seed": None if self.seed is None else int(self.seed),
            "train_eval": {k: float(v) for k, v in self.train_eval.items()},
            "extra": to_jsonable(self.extra, "RunRecord.extra"),
        }

    @classmethod
    def from_dict(cls, d):
        """Rebuild a record written by `to_dict`.

        Raises:
            ValueError: `d` does not have the form `to_dict` writes (the
                message says what is wrong), e.g. a results-cache entry of
                another shape.
        """
        _check_record_dict(d)
        history = pd.DataFrame(d["history"])
        history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")
        return cls(
            history=history,
            test=dict(d["test"]),
            seconds=float(d["seconds"]),
            params=int(d["params"]),
            config=dict(d["config"]),
            name=str(d.get("name", "")),
            seed=d.get("seed"),
            train_eval=dict(d.get("train_eval", {})),
            extra=dict(d.get("extra", {})),
        )


def _check_record_dict(d):
    def fail(what):
        raise ValueError(f"not a RunRecord dict: {what}.")

    if not isinstance(d, dict):
        fail(f"got {type(d).__name__}")
    missing = sorted({"history", "test", "seconds", "params", "config"} - set(d))
    if missing:
        fail(f"missing {missing}")
    history = d["history"]
    if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
        fail("history must map column names to lists")
    if len({len(v) for v in history.values()}) > 1:
        fail("history columns differ in length")
    for field in ("test", "train_eval"):
        values = d.get(field, {})
        if not isinstance(values, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values.values()):
            fail(f"{field} must map metric names to numbers")
    for field in ("config", "extra"):
        if not isinstance(d.get(field, {}), dict):
            fail(f"{field} must be a dict")
    if not isinstance(d["seconds"], (int, float)) or not isinstance(d["params"], int):
        fail("seconds and params must be numbers")
    seed = d.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        fail(f"seed must be an integer or null, got {seed!r}")


class _Validation(keras.callbacks.Callback):
    """`val_` metrics in the epoch's logs, as `validation_data` gives, through `evaluate`."""

    def __init__(self, data, batch_size):
        super().__init__()
        self.data, self.batch_size = data, batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            for k, v in evaluate(self.model, *self.data, batch_size=self.batch_size).items():
                logs[f"val_{k}"] = v


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")


def _steps_per_execution(callbacks, n, batch_size):
    """A whole epoch per call to the compiled training step, unless a callback acts on batches.

    With `steps_per_execution` Keras runs that many steps inside one compiled
    call: the same steps on the same batches, without the per-step cost of
    calling from Python. Batch-level callback hooks then run once per call,
    so a callback that defines one (e.g. the learning-rate finder) keeps one
    step per call.
    """
    base = keras.callbacks.Callback
    # The bound method's function: a subclass's override, or one a LambdaCallback set on the instance.
    if any(getattr(getattr(cb, hook), "__func__", None) is not getattr(base, hook)
           for cb in callbacks for hook in _BATCH_HOOKS):
        return 1
    return max(1, -(-n // batch_size))


def _check_pair(name, data):
    if data is None:
        return None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"{name} must be a pair (x, y), got {type(data).__name__}.")
    x, y = np.asarray(data[0]), np.asarray(data[1])
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} examples but y has {len(y)}.")
    if len(x) == 0:
        raise ValueError(f"{name} is empty.")
    return x, y


def _default_loss(model):
    act = getattr(model.layers[-1], "activation", None)
    probabilities = act is not None and getattr(act, "__name__", "") in ("softmax", "sigmoid")
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)


def _check_labels(model, loss, pairs):
    """Labels that fit the model's output and the loss, else a `ValueError` saying how to mend them."""
    shape = getattr(model, "output_shape", None)
    if not (isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[-1], int)):
        return  # several outputs, or an output that is not one vector per example
    units = shape[-1]
    sparse = loss is None or isinstance(loss, keras.losses.SparseCategoricalCrossentropy) \
        or loss == "sparse_categorical_crossentropy"
    categorical = isinstance(loss, keras.losses.CategoricalCrossentropy) or loss == "categorical_crossentropy"
    loss_name = "sparse categorical cross-entropy" + (" (the default loss)" if loss is None else "")
    for name, (_, y) in pairs:
        if sparse:
            if units < 2:
                raise ValueError(
                    f"the model has {units} output unit, but {loss_name} needs one output per class "
                    "(at least 2): build the model with num_classes=2 for two classes, or pass "
                    "loss=keras.losses.BinaryCrossentropy(...) for one sigmoid output.")
            if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
                raise ValueError(
                    f"{name} labels have shape {y.shape} (one-hot or several labels per example), but "
                    f"{loss_name} expects one class index per example: pass y.argmax(axis=1), or "
                    "loss=keras.losses.CategoricalCrossentropy(...) for one-hot labels.")
            values = y.reshape(-1)
            if not (np.issubdtype(values.dtype, np.integer)
                    or (np.issubdtype(values.dtype, np.floating) and np.array_equal(values, np.round(values)))):
                raise ValueError(f"{name} labels must be class indices (integers), got dtype {y.dtype}.")
            low, high = values.min(), values.max()
            if low < 0 or high >= units:
                raise ValueError(f"{name} labels range from {low} to {high}, but the model has {units} outputs "
                                 f"(classes 0 to {units - 1}).")
        elif categorical and tuple(y.shape[1:]) != (units,):
            raise ValueError(f"{name} labels have shape {y.shape}, but categorical cross-entropy on a model "
                             f"with {units} outputs needs one-hot labels of shape (n, {units}).")


OPTIMIZERS = ("SGD", "momentum", "Nesterov", "RMSprop", "Adam", "AdamW")


def make_optimizer(name, learning_rate, momentum=0.9, **kwargs):
    """A fresh Keras optimizer, by the names the book uses.

    `"momentum"` and `"Nesterov"` are `keras.optimizers.SGD` with
    `momentum` (and `nesterov=True`); the others are the Keras classes of
    the same name with their default settings (Adam: beta_1 0.9, beta_2
    0.999, epsilon 1e-7 in Keras).

    Args:
        name: one of `OPTIMIZERS`.
        learning_rate: a positive number or a Keras learning-rate schedule.
        momentum: momentum of `"momentum"` and `"Nesterov"`.
        kwargs: passed to the Keras class, e.g. `clipnorm=1.0`.

    Example:

    >>> opt = make_optimizer("Nesterov", 0.01, clipnorm=1.0)
    >>> type(opt).__name__, opt.nesterov, opt.clipnorm
    ('SGD', True, 1.0)
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}.")
    lr = _check_learning_rate(learning_rate)
    if name == "SGD":
        return keras.optimizers.SGD(lr, **kwargs)
    if name in ("momentum", "Nesterov"):
        return keras.optimizers.SGD(lr, momentum=momentum, nesterov=name == "Nesterov", **kwargs)
    return getattr(keras.optimizers, name)(lr, **kwargs)


def _check_learning_rate(learning_rate):
    """A positive finite number (as a float) or a Keras schedule, else a `ValueError`."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float, np.integer, np.floating)) \
            or not np.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be a positive number or a Keras learning-rate schedule, "
                         f"got {learning_rate!r}.")
    return float(learning_rate)


def _optimizer(optimizer, learning_rate):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if learning_rate is not None:
            raise ValueError("pass learning_rate to the optimizer instance, not to fit().")
        return optimizer
    if not isinstance(optimizer, str):
        raise ValueError(f"optimizer must be a name or a keras Optimizer, got {optimizer!r}.")
    try:
        opt = keras.optimizers.get(optimizer)
    except ValueError as err:
        raise ValueError(f"unknown optimizer {optimizer!r}; pass a Keras optimizer name (e.g. 'adam', "
                         f"'sgd', 'rmsprop') or instance ({err})") from None
    if learning_rate is not None:
        learning_rate = _check_learning_rate(learning_rate)
        opt = opt.__class__.from_config({**opt.get_config(), "learning_rate": learning_rate})
    return opt


def _as_written(learning_rate):
    # Keras holds the rate in float32 (1e-4 becomes 9.99999974e-05); the
    # shortest decimal that round-trips in float32 is the value as written,
    # so records compare equal to the rates a sweep was configured with.
    return float(str(np.float32(keras.ops.convert_to_numpy(learning_rate))))


def fit(
    model,
    train,
    validation=None,
    test=None,
    *,
    epochs=10,
    batch_size=128,
    optimizer="adam",
    learning_rate=None,
    loss=None,
    metrics=("accuracy",),
    callbacks=(),
    verbose=0,
    config=None,
    seed=None,
    evaluate_train=True,
    distribution=None,
):
    """Compile `model`, train it, evaluate it, and return a `RunRecord`.

    What it adds to `model.fit` costs less than nothing: on one device a
    whole epoch of training steps goes to Keras in one call
    (`steps_per_execution`; on TensorFlow one compiled call, on JAX one
    callback dispatch; not on PyTorch, nor when a callback acts on single
    batches or `verbose=1`), and the validation set is evaluated after every
    epoch by `dlgen.evaluate`, without building an input pipeline each time.
    The numbers are those of `model.fit` with `validation_data`; the typical
    run of the book takes 0.6 times as long on TensorFlow (`make bench`).
    The model stays compiled that way: a later `model.fit` of yours with a
    callback on batches should compile it again.

    Args:
        model: an uncompiled (or compiled, it is recompiled) `keras.Model`.
        train: `(x, y)` training arrays.
        validation: `(x, y)` validation arrays, evaluated after every epoch.
        test: `(x, y)` test arrays, evaluated once after training.
        epochs: number of epochs, a non-negative integer.
        batch_size: positive integer.
        optimizer: a Keras optimizer name or instance.
        learning_rate: learning rate for an optimizer given by name
            (`None` keeps Keras's default for that optimizer).
        loss: a Keras loss; `None` picks sparse categorical cross-entropy,
            on logits unless the last layer applies softmax or sigmoid.
        metrics: Keras metrics.
        callbacks: Keras callbacks (an `EpochTimer` is always added).
        verbose: passed to `model.fit`.
        config: extra settings to store in the record.
        seed: stored in the record (seeding is `dlgen.set_seed`'s job).
        evaluate_train: after training, also evaluate on the training set in
            inference mode (stored as `RunRecord.train_eval`).
        distribution: train data-parallel on the backend's engine (see
            `dlgen.distribute`), `"data_parallel"` (this machine's devices),
            `"multi_worker"` (several machines), or a `tf.distribute.Strategy`
            / `keras.distribution.DataParallel`. `batch_size` is then the
            global batch, shared by the replicas. A copy of `model` is
            trained in the engine's scope and its weights are copied back
            into `model`. `None` (the default) trains on one device.

    Returns:
        A `RunRecord`.

    Example:

    >>> import numpy as np
    >>> from dlgen.models import build_mlp
    >>> x = np.random.rand(32, 4).astype("float32"); y = np.arange(32) % 2
    >>> rec = fit(build_mlp((4,), 2, depth=1, units=8), (x, y), epochs=2)
    >>> sorted(rec.history.columns), len(rec.history)
    (['accuracy', 'epoch_seconds', 'loss'], 2)
    """
    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(f"metrics must be a list or tuple of Keras metrics, e.g. ['accuracy'], got "
                        f"{type(metrics).__name__} {metrics!r}.")
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict of settings, got {type(config).__name__} {config!r}.")
    # Checked before training: a record whose settings cannot be stored would be lost after it.
    config = to_jsonable(config or {}, "config")
    train = _check_pair("train", train)
    if train is None:
        raise ValueError("train must be a pair (x, y), got None.")
    validation = _check_pair("validation", validation)
    test = _check_pair("test", test)
    expected = tuple(model.input_shape[1:])
    for name, data in (("train", train), ("validation", validation), ("test", test)):
        if data is not None and tuple(data[0].shape[1:]) != expected:
            raise ValueError(
                f"{name} examples have shape {tuple(data[0].shape[1:])}, "
                f"but the model expects {expected}."
            )

    _check_labels(model, loss, [(n, d) for n, d in (("train", train), ("validation", validation),
                                                     ("test", test)) if d is not None])

    engine = resolve(distribution)
    with scope(engine):
        if engine is None:
            work = model
        else:
            # Variables must be created in the engine's scope to be mirrored or sharded.
            try:
                work = keras.models.clone_model(model)
            except Exception as err:
                raise ValueError(
                    "distribution needs a Sequential or functional model (one that "
                    f"keras.models.clone_model can copy); {model.name!r} cannot be copied: {err}"
                ) from err
            work.set_weights(model.get_weights())
            if isinstance(optimizer, keras.optimizers.Optimizer):
                optimizer = optimizer.__class__.from_config(optimizer.get_config())
        opt = _optimizer(optimizer, learning_rate)
        work.compile(optimizer=opt, loss=loss or _default_loss(model), metrics=list(metrics),
                     # One device only (several steps per call fail under tf.distribute), not on
                     # PyTorch (Keras allows one step per call there), and one step per call for a
                     # progress bar (verbose=1), which updates after every call.
                     steps_per_execution=_steps_per_execution(callbacks, len(train[0]), batch_size)
                     if engine is None and keras.backend.backend() != "torch" and verbose != 1 else 1)
        # Evaluation results do not depend on the batch size; larger batches
        # mean fewer calls and less per-call overhead.
        eval_batch = max(int(batch_size), EVAL_BATCH)
        fast = engine is None  # test_on_batch does not split a batch across replicas
        if fast and validation is not None:
            # Validation after every epoch through `evaluate`, in a callback that
            # runs before all others, so that they (and the History) see val_ metrics
            # as with validation_data, at a fraction of its per-epoch cost.
            run_callbacks = [_Validation(validation, eval_batch), EpochTimer(), *callbacks]
            validation_data = None
        else:
            run_callbacks, validation_data = [EpochTimer(), *callbacks], validation
        start = time.perf_counter()
        h = work.fit(
            train[0],
            train[1],
            validation_data=validation_data,
            epochs=int(epochs),
            batch_size=int(batch_size),
            validation_batch_size=eval_batch,
            callbacks=run_callbacks,
            verbose=verbose,
        )
        seconds = time.perf_counter() - start
        history = pd.DataFrame(h.history)
        history.index = pd.RangeIndex(1, len(history) + 1, name="epoch")

        def evaluate_on(data):
            if fast:
                return evaluate(work, data[0], data[1], batch_size=eval_batch)
            out = work.evaluate(data[0], data[1], batch_size=eval_batch, verbose=0, return_dict=True)
            return {k: float(v) for k, v in out.items()}

        test_metrics = evaluate_on(test) if test is not None else {}
        train_metrics = evaluate_on(train) if evaluate_train and epochs > 0 else {}
    if work is not model:
        # The caller's model gets the trained weights, compiled as it would be
        # without a distribution (with its own optimizer) so that it can evaluate.
        model.set_weights(work.get_weights())
        model.compile(optimizer=opt.__class__.from_config(opt.get_config()),
                      loss=loss or _default_loss(model), metrics=list(metrics))
    settings = {
        "model": model.name,
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "optimizer": opt.__class__.__name__,
        "learning_rate": _as_written(opt.learning_rate),
        "train_size": int(len(train[0])),
        **({"replicas": replicas(engine)} if engine is not None else {}),
        **config,
    }
    return RunRecord(
        history=history,
        test=test_metrics,
        seconds=seconds,
        params=int(model.count_params()),
        config=settings,
        seed=seed,
        train_eval=train_metrics,
    )

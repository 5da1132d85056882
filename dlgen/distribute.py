"""Data-parallel training on the backend's own engine.

When one device is not enough, `dlgen.fit(..., distribution=...)` trains
data-parallel: each replica holds a copy of the weights, takes its share of
every batch, and the replicas' gradients are averaged before each update. The
work is done by an existing engine, never by dlgen:

- TensorFlow: `tf.distribute.MirroredStrategy` on one machine,
  `tf.distribute.MultiWorkerMirroredStrategy` on several (configured by the
  `TF_CONFIG` environment variable);
- JAX: `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
  (several machines: `keras.distribution.initialize()` first).

On a machine with one CPU, `split_cpu(n)` makes the CPU appear as `n`
devices, so that the same code runs in CI and on a laptop.
"""

import contextlib

import keras
import numpy as np

from ._checks import check_int

__all__ = ["DISTRIBUTIONS", "data_parallel", "replicas", "split_cpu"]

DISTRIBUTIONS = ("data_parallel", "multi_worker")
"""The names `dlgen.fit` accepts as `distribution` (besides an engine object)."""

_BACKENDS = ("tensorflow", "jax")

# One engine per backend, kind and device list, made once and reused. On
# TensorFlow, a second MirroredStrategy that trains a model of another shape in
# the same process fails in its gradient all-reduce ("Shape mismatch in the
# collective instance"; tensorflow/tensorflow#62790); one shared strategy does not.
_ENGINES = {}


def _backend():
    backend = keras.backend.backend()
    if backend not in _BACKENDS:
        raise ValueError(
            f"data-parallel training in dlgen needs KERAS_BACKEND set to one of {_BACKENDS}, "
            f"got {backend!r}."
        )
    return backend


def split_cpu(n):
    """Make the CPU appear as `n` devices, for data-parallel training on one machine.

    Call it before any computation (at the top of a notebook): TensorFlow and
    JAX fix their devices when they start. Calling it again with the same `n`
    does nothing, so a notebook can be run twice in one kernel.

    Args:
        n: the number of CPU devices, a positive integer.

    Returns:
        The names of the CPU devices.

    Raises:
        RuntimeError: if the backend has already started with another number
            of CPU devices (restart the kernel).

    Example:

    >>> import dlgen
    >>> len(dlgen.split_cpu(2))  # the test session split the CPU in two
    2
    """
    n = check_int("n", n, 1)
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError as err:  # TensorFlow has started: fine if it already has n devices
            have = len(tf.config.list_logical_devices("CPU"))
            if have != n:
                raise RuntimeError(
                    f"cannot split the CPU into {n} devices: TensorFlow has already started with {have}. "
                    f"Call dlgen.split_cpu({n}) before any computation (first in the notebook), "
                    "or restart the kernel."
                ) from err
        return [d.name for d in tf.config.list_logical_devices("CPU")]
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as err:
        have = len(jax.devices("cpu"))
        if have != n:
            raise RuntimeError(
                f"cannot split the CPU into {n} devices: JAX has already started with {have}. "
                f"Call dlgen.split_cpu({n}) before any computation (first in the notebook), "
                "or restart the kernel."
            ) from err
    return [str(d) for d in jax.devices("cpu")]


def data_parallel(kind="data_parallel", devices=None):
    """The backend's data-parallel engine.

    Args:
        kind: `"data_parallel"` (the devices of this machine) or
            `"multi_worker"` (several machines; TensorFlow reads `TF_CONFIG`,
            JAX calls `keras.distribution.initialize()`).
        devices: device names to use on this machine; default every GPU, or
            every CPU device when there is no GPU.

    Returns:
        A `tf.distribute.Strategy` (TensorFlow) or a
        `keras.distribution.DataParallel` (JAX). Both have `scope()`. The
        engine is made once and returned again for the same arguments.

    Example:

    >>> engine = data_parallel()
    >>> replicas(engine)
    2
    """
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"kind must be one of {DISTRIBUTIONS}, got {kind!r}.")
    if devices is not None and (isinstance(devices, str) or not list(devices)):
        raise ValueError(f"devices must be a non-empty list of device names, got {devices!r}.")
    backend = _backend()
    key = (backend, kind, None if devices is None else tuple(devices))
    if key not in _ENGINES:
        _ENGINES[key] = _make_engine(backend, kind, devices)
    return _ENGINES[key]


def _make_engine(backend, kind, devices):
    if backend == "tensorflow":
        import tensorflow as tf

        # The strategies log every all-reduce they set up at INFO level; a
        # chapter's output should show its results, not those lines.
        tf.get_logger().setLevel("ERROR")
        if kind == "multi_worker":
            return tf.distribute.MultiWorkerMirroredStrategy()
        if devices is None:
            devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
                d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(list(devices))
    if kind == "multi_worker":
        keras.distribution.initialize()
    if devices is None:
        devices = keras.distribution.list_devices()
    return keras.distribution.DataParallel(devices=list(devices))


def replicas(engine):
    """How many replicas `engine` trains on (1 for `None`).

    Example:

    >>> replicas(None)
    1
    """
    if engine is None:
        return 1
    if hasattr(engine, "num_replicas_in_sync"):
        return int(engine.num_replicas_in_sync)
    return int(engine.device_mesh.devices.size)


def engine_identity(engine):
    """What defines a data-parallel engine for the results cache: its kind and its devices."""
    kind = f"{type(engine).__module__}.{type(engine).__qualname__}"
    if hasattr(engine, "num_replicas_in_sync"):
        devices = [str(d) for d in getattr(engine.extended, "worker_devices", ())]
    else:
        devices = [str(d) for d in np.asarray(engine.device_mesh.devices).reshape(-1)]
    return {"engine": kind, "replicas": replicas(engine), "devices": devices}


def _is_engine(obj):
    if isinstance(obj, (keras.distribution.DataParallel, keras.distribution.ModelParallel)):
        return True
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return isinstance(obj, tf.distribute.Strategy)
    return False


def resolve(distribution):
    """`dlgen.fit`'s `distribution` argument as an engine (or `None`)."""
    if distribution is None:
        return None
    if isinstance(distribution, str):
        if distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be None, one of {DISTRIBUTIONS}, a tf.distribute.Strategy "
                f"or a keras.distribution.DataParallel, got {distribution!r}."
            )
        return data_parallel(distribution)
    if _is_engine(distribution):
        return distribution
    raise ValueError(
        f"distribution must be None, one of {DISTRIBUTIONS}, a tf.distribute.Strategy "
        f"or a keras.distribution.DataParallel, got {distribution!r}."
    )


def scope(engine):
    """The engine's scope, or a scope that does nothing for `None`."""
    return contextlib.nullcontext() if engine is None else engine.scope()

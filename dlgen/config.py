"""Seeds, determinism, the quick/full budget switch and notebook set-up.

This module is imported before Keras, so that the TensorFlow backend's C++
start-up lines can be kept out of notebook cell outputs.
"""

import contextlib
import os
import random

import numpy as np

from ._checks import check_int

__all__ = ["set_seed", "is_quick", "budget", "setup_notebook", "QUICK_ENV"]

#: Name of the environment variable that selects the quick budget.
QUICK_ENV = "DLGEN_QUICK"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


@contextlib.contextmanager
def _silenced_fd2():
    """Send file descriptor 2 to /dev/null for the duration of the block.

    TensorFlow writes its start-up lines (the oneDNN notice, CPU feature
    lines) from C++ straight to fd 2, and ipykernel 7 captures process-level
    stderr into cell outputs. Python-level exceptions raised inside the block
    still propagate normally; they are printed after fd 2 is restored.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_keras_quietly():
    # TensorFlow's C++ logging: level 3 keeps even its ERROR-level notices (e.g.
    # a harmless "NodeDef mentions attribute" line per tf.data pipeline) out of
    # cell outputs; real failures still surface as Python exceptions. oneDNN
    # itself stays on (turning it off costs ~1.7x on CPU). A value the user set
    # is kept.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _silenced_fd2():
        import keras  # noqa: F401

        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401


def is_quick(env=None):
    """Whether the quick (CI) budget is selected.

    Reads `DLGEN_QUICK`: `1`, `true`, `yes` or `on` select quick; unset,
    empty, `0`, `false`, `no` or `off` select full.

    Args:
        env: mapping to read instead of `os.environ` (for tests).

    Returns:
        bool.

    Example:

    >>> is_quick({"DLGEN_QUICK": "1"})
    True
    >>> is_quick({})
    False
    """
    env = os.environ if env is None else env
    value = str(env.get(QUICK_ENV, "")).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={env.get(QUICK_ENV)!r} is not understood; "
        f"use one of {sorted(_TRUE)} for quick or {sorted(_FALSE - {''})} for full."
    )


def budget(quick, full, env=None):
    """Pick the quick or the full value of a budget setting.

    Args:
        quick: value used when `DLGEN_QUICK` selects the quick budget.
        full: value used otherwise.
        env: mapping to read instead of `os.environ` (for tests).

    Example:

    >>> budget(quick=5, full=40, env={"DLGEN_QUICK": "1"})
    5
    """
    return quick if is_quick(env) else full


def set_seed(seed, deterministic=True):
    """Seed Python, NumPy and Keras, and make backend ops deterministic.

    Calls `keras.utils.set_random_seed`, which seeds Python's `random`,
    NumPy and the backend. With `deterministic=True` it also asks the backend
    for deterministic kernels where it has such a switch: TensorFlow's
    `enable_op_determinism`, PyTorch's `use_deterministic_algorithms`. JAX on
    CPU is deterministic already.

    Args:
        seed: non-negative integer.
        deterministic: also turn on op determinism.

    Returns:
        The seed.

    Example:

    >>> set_seed(0)
    0
    """
    seed = check_int("seed", seed, 0)
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        elif backend == "torch":
            import torch

            torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def setup_notebook(seed=None, dpi=100, style="default"):
    """Prepare a notebook: quiet backend start-up, plot defaults, seed.

    Args:
        seed: if given, passed to `set_seed`.
        dpi: figure resolution for inline figures.
        style: a matplotlib style name.

    Returns:
        A dict describing the environment (Keras version, backend, budget),
        handy as the last expression of a set-up cell.

    Example:

    >>> info = setup_notebook(seed=0)
    >>> sorted(info)
    ['backend', 'budget', 'keras', 'seed']
    """
    _import_keras_quietly()
    import keras
    import matplotlib as mpl

    mpl.style.use(style)
    mpl.rcParams.update(
        {
            "figure.dpi": dpi,
            "figure.figsize": (6.4, 3.8),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
        }
    )
    if seed is not None:
        set_seed(seed)
    return {
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "budget": "quick" if is_quick() else "full",
        "seed": seed,
    }

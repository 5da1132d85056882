"""Argument checks shared by the modules: one wording for every bad value."""

import numpy as np


def check_int(name, value, minimum):
    """Return `value` as an int if it is an integer >= `minimum`, else raise.

    Booleans are rejected (`True` is an int in Python, never a valid count).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
        raise ValueError(f"{name} must be {kind}, got {value!r}.")
    return int(value)


# Metric names whose lower values are better, and whose higher values are.
_LOWER_BETTER = ("loss", "error", "mae", "mse", "rmse", "mape", "msle", "crossentropy", "hinge", "ece")
_HIGHER_BETTER = ("acc", "auc", "precision", "recall", "f1", "iou", "match")


def metric_mode(metric, mode):
    """`"min"` or `"max"`: whether lower or higher values of `metric` are better.

    `mode="auto"` (as in Keras's callbacks) infers it from the name: a name
    containing `loss`, `error`, `mae`, `mse`, ... is lower-is-better; one
    containing `acc`, `auc`, `precision`, `recall`, ... is higher-is-better;
    any other name raises, asking for `mode="min"` or `mode="max"`.

    Example:

    >>> metric_mode("val_loss", "auto"), metric_mode("val_accuracy", "auto"), metric_mode("val_mae", "auto")
    ('min', 'max', 'min')
    """
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = str(metric).lower().removeprefix("val_").removeprefix("test_")
    parts = name.replace("-", "_").split("_")
    if any(p in _LOWER_BETTER for p in parts) or name.endswith("loss"):
        return "min"
    if any(p.startswith(_HIGHER_BETTER) for p in parts):
        return "max"
    raise ValueError(f"cannot tell whether {metric!r} should go up or down; pass mode='min' "
                     "(lower is better) or mode='max' (higher is better).")

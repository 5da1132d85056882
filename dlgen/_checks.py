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

"""Learning-rate schedules by name, and the one-cycle schedule Keras lacks.

Every schedule here is a `keras.optimizers.schedules.LearningRateSchedule`
(a function of the optimizer's step count, serializable with its config),
so any Keras optimizer accepts it in place of a number:

>>> import keras
>>> opt = keras.optimizers.SGD(make_schedule("cosine", 0.1, total_steps=1000))

`make_schedule` builds the six schedules chapter 7 compares, all starting
from (or peaking at) the same rate, so that "the same rate, with and
without decay" is a one-word change. `schedule_values` evaluates a schedule
at given steps for plotting.
"""

import math

import keras
import numpy as np
from keras import ops

from ._checks import check_int

__all__ = ["SCHEDULES", "OneCycle", "make_schedule", "schedule_values"]

SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup_cosine", "one_cycle")
"""Schedule names accepted by `make_schedule`."""


def _check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    return float(value)


def _check_fraction(name, value, low=0.0, high=1.0, closed_low=True):
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
    ok = ok and (low <= value if closed_low else low < value) and value < high
    if not ok:
        left = "[" if closed_low else "("
        raise ValueError(f"{name} must be a number in {left}{low}, {high}), got {value!r}.")
    return float(value)


@keras.saving.register_keras_serializable(package="dlgen")
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """A constant rate, as a schedule (so every schedule has one interface).

    >>> round(float(Constant(0.1)(500)), 6)
    0.1
    """

    def __init__(self, learning_rate):
        self.learning_rate = _check_rate("learning_rate", learning_rate)

    def __call__(self, step):
        return ops.convert_to_tensor(self.learning_rate, "float32")

    def get_config(self):
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package="dlgen")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """The one-cycle schedule (Smith and Topin, 2019), written as a Keras schedule.

    The rate rises from `max_learning_rate / div_factor` to
    `max_learning_rate` over the first `warmup_fraction` of `total_steps`,
    then falls to `max_learning_rate / (div_factor * final_div_factor)` by
    the last step; both legs follow half a cosine. After `total_steps` the
    rate stays at its final value.

    Args:
        max_learning_rate: the peak rate, a positive number.
        total_steps: optimizer steps the cycle spans (epochs x batches).
        warmup_fraction: share of the steps spent rising, in (0, 1).
        div_factor: the start rate is the peak divided by this (>= 1).
        final_div_factor: the final rate is the start rate divided by this (>= 1).

    Example:

    >>> s = OneCycle(1.0, total_steps=100, warmup_fraction=0.3, div_factor=10.0)
    >>> [round(float(s(t)), 4) for t in (0, 30, 100)]
    [0.1, 1.0, 0.0]
    """

    def __init__(self, max_learning_rate, total_steps, warmup_fraction=0.3, div_factor=25.0,
                 final_div_factor=1e4):
        self.max_learning_rate = _check_rate("max_learning_rate", max_learning_rate)
        self.total_steps = check_int("total_steps", total_steps, 2)
        self.warmup_fraction = _check_fraction("warmup_fraction", warmup_fraction, closed_low=False)
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
                raise ValueError(f"{name} must be a number >= 1, got {value!r}.")
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.max_learning_rate
        start = peak / self.div_factor
        end = start / self.final_div_factor
        warm = max(1.0, round(self.warmup_fraction * self.total_steps))
        cool = max(1.0, self.total_steps - warm)
        up = ops.clip(step / warm, 0.0, 1.0)
        down = ops.clip((step - warm) / cool, 0.0, 1.0)
        rising = start + (peak - start) * (1.0 - ops.cos(math.pi * up)) / 2.0
        falling = end + (peak - end) * (1.0 + ops.cos(math.pi * down)) / 2.0
        return ops.where(step < warm, rising, falling)

    def get_config(self):
        return {"max_learning_rate": self.max_learning_rate, "total_steps": self.total_steps,
                "warmup_fraction": self.warmup_fraction, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor}


def make_schedule(name, learning_rate, total_steps, *, final_fraction=0.01, warmup_fraction=0.1):
    """One of the `SCHEDULES`, starting from (or peaking at) `learning_rate`.

    - `"constant"`: `learning_rate` throughout.
    - `"step"`: divided by 10 after half and again after three quarters of the steps.
    - `"exponential"`: multiplied by `final_fraction` over `total_steps`
      (`keras.optimizers.schedules.ExponentialDecay`).
    - `"cosine"`: half a cosine down to `final_fraction * learning_rate`
      (`CosineDecay`).
    - `"warmup_cosine"`: linear warmup from `final_fraction * learning_rate`
      over `warmup_fraction` of the steps, then the cosine (`CosineDecay`
      with `warmup_target`).
    - `"one_cycle"`: `OneCycle` peaking at `learning_rate`, rising over
      `3 * warmup_fraction` of the steps (0.3 by default, as in Smith and
      Topin).

    Args:
        name: one of `SCHEDULES`.
        learning_rate: the starting (or peak) rate, a positive number.
        total_steps: optimizer steps of the whole run (epochs x batches per epoch).
        final_fraction: the decayed rate at the end, as a fraction of the start.
        warmup_fraction: share of the steps spent warming up.

    Example:

    >>> s = make_schedule("step", 0.1, total_steps=100)
    >>> [round(float(s(t)), 4) for t in (0, 50, 51, 76, 99)]
    [0.1, 0.1, 0.01, 0.001, 0.001]
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; allowed: {', '.join(SCHEDULES)}.")
    lr = _check_rate("learning_rate", learning_rate)
    total = check_int("total_steps", total_steps, 2)
    final = _check_fraction("final_fraction", final_fraction)
    warmup = _check_fraction("warmup_fraction", warmup_fraction, high=1 / 3, closed_low=False)
    s = keras.optimizers.schedules
    if name == "constant":
        return Constant(lr)
    if name == "step":
        return s.PiecewiseConstantDecay([total // 2, (3 * total) // 4], [lr, lr / 10, lr / 100])
    if name == "exponential":
        return s.ExponentialDecay(lr, decay_steps=total, decay_rate=max(final, 1e-12))
    if name == "cosine":
        return s.CosineDecay(lr, decay_steps=total, alpha=final)
    if name == "warmup_cosine":
        warm = max(1, round(warmup * total))
        return s.CosineDecay(max(final, 1e-12) * lr, decay_steps=max(1, total - warm), alpha=final,
                             warmup_target=lr, warmup_steps=warm)
    return OneCycle(lr, total, warmup_fraction=3 * warmup)


def schedule_values(schedule, steps):
    """The rate of `schedule` (a schedule or a number) at each of `steps`, as a NumPy array.

    >>> schedule_values(make_schedule("cosine", 1.0, 10, final_fraction=0.0), [0, 5, 10]).round(3)
    array([1. , 0.5, 0. ], dtype=float32)
    """
    steps = np.asarray(steps)
    if steps.ndim != 1 or not np.issubdtype(steps.dtype, np.integer) or (steps < 0).any():
        raise ValueError(f"steps must be a 1-D sequence of non-negative integers, got {steps!r}.")
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return np.full(len(steps), _check_rate("schedule", schedule), dtype="float32")
    return np.array([float(keras.ops.convert_to_numpy(schedule(int(t)))) for t in steps],
                    dtype="float32")

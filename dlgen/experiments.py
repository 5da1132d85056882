"""Tables of runs and the analyses the chapters share.

`records_frame` and `summarize` turn `RunRecord` objects into pandas tables;
`good_range`, `time_to_target` and `selection_optimism` are the book's three
analyses of measured runs. Running and caching the runs is `dlgen.sweep`'s
and `dlgen.cache`'s job.
"""

import numpy as np
import pandas as pd

from ._checks import check_int, metric_mode
from .training import RunRecord

__all__ = [
    "good_range",
    "records_frame",
    "selection_optimism",
    "summarize",
    "time_to_target",
]


def records_frame(records, metric="accuracy"):
    """One row per run: name, seed, final train/validation metric, gap, test.

    Returns:
        A `DataFrame` with columns `name`, `seed`, `train_<metric>` (in
        inference mode when the record has `train_eval`, see `RunRecord`),
        `val_<metric>`, `gap` (train minus validation at the last epoch),
        `best_epoch` (lowest validation loss, if recorded), one `test_<name>`
        column per test metric, `seconds` and `params`.

    Example:

    >>> h = pd.DataFrame({"loss": [0.9, 0.5], "accuracy": [0.7, 0.9], "val_loss": [0.8, 0.6],
    ...                   "val_accuracy": [0.72, 0.8]})
    >>> r = RunRecord(h, {"accuracy": 0.79}, 1.5, 100, {}, name="wide", seed=0)
    >>> records_frame([r])[["name", "val_accuracy", "gap", "best_epoch", "test_accuracy"]]
       name  val_accuracy  gap  best_epoch  test_accuracy
    0  wide           0.8  0.1           2           0.79
    """
    rows = []
    for r in records:
        row = {"name": r.name, "seed": r.seed}
        h = r.history
        if metric in r.train_eval:
            row[f"train_{metric}"] = r.train_eval[metric]
        elif metric in h.columns:
            row[f"train_{metric}"] = r.final(metric)
        if f"val_{metric}" in h.columns:
            row[f"val_{metric}"] = r.final(f"val_{metric}")
            row["gap"] = r.gap(metric)
        if "val_loss" in h.columns:
            row["best_epoch"] = r.best_epoch("val_loss")
        row.update({f"test_{k}": v for k, v in r.test.items()})
        row["seconds"] = r.seconds
        row["params"] = r.params
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(records, metric="accuracy", columns=None):
    """Mean and standard deviation over seeds, one row per configuration.

    Args:
        records: `RunRecord` objects (e.g. from `run_sweep`).
        metric: the history metric for the train/validation/gap columns.
        columns: which per-run columns to aggregate (default: all numeric
            ones except `seed`).

    Returns:
        A `DataFrame` indexed by configuration name (in first-seen order),
        with a `(column, "mean")` / `(column, "std")` column pair for each
        column, and `n` (number of seeds).

    Example:

    >>> h = pd.DataFrame({"accuracy": [1.0], "val_accuracy": [0.8]})
    >>> recs = [RunRecord(h, {"accuracy": a}, 1.0, 5, {}, "A", s) for s, a in [(0, .8), (1, .9)]]
    >>> round(float(summarize(recs).loc["A", ("test_accuracy", "mean")]), 2)
    0.85
    """
    frame = records_frame(records, metric)
    if frame.empty:
        raise ValueError("no records to summarize.")
    if columns is None:
        columns = [c for c in frame.columns if c not in ("name", "seed")]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the run table; have {list(frame.columns)}.")
    order = list(dict.fromkeys(frame["name"]))
    grouped = frame.groupby("name", sort=False)[list(columns)]
    out = grouped.agg(["mean", "std"]).reindex(order)
    out[("n", "")] = frame.groupby("name", sort=False).size().reindex(order)
    out.index.name = "configuration"
    return out


def good_range(values, scores, threshold):
    """Where, on a log axis, a swept setting gives a score at most `threshold`.

    The scores (e.g. final losses over a learning-rate grid) are
    interpolated linearly in log10 of the values; a non-finite score (a
    diverged run) counts as the worst finite score seen, and at least twice
    the threshold. Use it to compare how forgiving methods
    are about a setting: a wider range is easier to hit.

    Args:
        values: positive swept values (e.g. learning rates), at least two.
        scores: one score per value, lower is better.
        threshold: the largest score that counts as good.

    Returns:
        A dict with the smallest (`low`) and largest (`high`)
        good value (NaN when none is good) and the total width of the good
        region in decades (powers of ten, `decades`).

    Example:

    >>> r = good_range([1e-3, 1e-2, 1e-1, 1.0], [2.0, 0.5, 0.5, 2.0], threshold=1.25)
    >>> round(r["low"], 5), round(r["high"], 3), r["decades"]
    (0.00316, 0.316, 2.0)
    """
    values = np.asarray(values, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if values.ndim != 1 or values.shape != scores.shape or len(values) < 2:
        raise ValueError(
            f"values and scores must be 1-D of the same length >= 2, got {values.shape} and {scores.shape}."
        )
    if not (values > 0).all():
        raise ValueError("values must be positive (they are placed on a log axis).")
    order = np.argsort(values)
    x = np.log10(values[order])
    y = np.where(np.isfinite(scores[order]), scores[order], np.inf)
    fine = np.linspace(x[0], x[-1], 20_001)
    # A diverged run counts as the worst finite score seen (at least twice
    # the threshold), so the good region ends between it and its neighbour.
    finite = y[np.isfinite(y)]
    cap = max(float(finite.max()) if len(finite) else 0.0, 2.0 * float(threshold))
    good = np.interp(fine, x, np.minimum(y, cap)) <= threshold
    if not good.any():
        return {"low": float("nan"), "high": float("nan"), "decades": 0.0}
    step = fine[1] - fine[0]
    return {"low": float(10 ** fine[good].min()), "high": float(10 ** fine[good].max()),
            "decades": round(float(good.sum() * step), 2)}


def time_to_target(record, target, steps_per_epoch, metric="val_accuracy", mode="auto"):
    """When a run first reached `target` on `metric`: epochs, optimizer steps and seconds.

    Args:
        record: a `dlgen.RunRecord` (its history has one row per epoch and,
            from `dlgen.fit`, an `epoch_seconds` column) or a DataFrame of the
            same form.
        target: the value to reach: reached means `>=` for a metric where
            higher is better, `<=` for one where lower is (see `mode`).
        steps_per_epoch: optimizer steps per epoch (`ceil(n_train / batch_size)`),
            a positive integer.
        metric: the history column to watch.
        mode: `"max"` (higher is better), `"min"` (lower is better) or
            `"auto"`, as in Keras's callbacks: inferred from the name
            (`loss`, `mae`, ... are lower-is-better; `accuracy`, `auc`, ...
            higher); a name it cannot place raises a `ValueError`.

    Returns:
        A dict with `epochs` (the first epoch `e` at the target), `steps`
        (`e * steps_per_epoch`), `seconds` and `reached` (`True`), where
        `seconds` sums `epoch_seconds` over the first `e` epochs (NaN without
        that column); when the run never reached the target, `epochs`,
        `steps` and `seconds` are `inf` and `reached` is `False`, so that
        means and comparisons still work.

    Example:

    >>> h = pd.DataFrame({"val_accuracy": [0.5, 0.7, 0.85, 0.9], "epoch_seconds": [1.0, 1.0, 1.5, 1.0]},
    ...                  index=pd.RangeIndex(1, 5, name="epoch"))
    >>> time_to_target(h, 0.8, steps_per_epoch=10)
    {'epochs': 3, 'steps': 30, 'seconds': 3.5, 'reached': True}
    >>> time_to_target(h, 0.95, steps_per_epoch=10)["reached"]
    False
    """
    h = record.history if hasattr(record, "history") and isinstance(record.history, pd.DataFrame) else record
    if not isinstance(h, pd.DataFrame):
        raise TypeError(f"record must be a dlgen RunRecord or a pandas DataFrame, got {type(record).__name__}.")
    if metric not in h.columns:
        raise ValueError(f"no column {metric!r} in the history; columns: {list(h.columns)}.")
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}.")
    if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) \
            or not np.isfinite(target):
        raise ValueError(f"target must be a finite number, got {target!r}.")
    values = h[metric].to_numpy(float)
    hit = values <= target if metric_mode(metric, mode) == "min" else values >= target
    if not hit.any():
        return {"epochs": float("inf"), "steps": float("inf"), "seconds": float("inf"), "reached": False}
    e = int(np.flatnonzero(hit)[0]) + 1
    seconds = float(h["epoch_seconds"].iloc[:e].sum()) if "epoch_seconds" in h.columns else float("nan")
    return {"epochs": e, "steps": e * int(steps_per_epoch), "seconds": round(seconds, 6), "reached": True}


def selection_optimism(correct, selection_size, splits=200, seed=0):
    """How much the best of several candidates' scores overstates its accuracy.

    `splits` times, the examples are split at random into a *selection* part
    of `selection_size` examples and a *report* part (the rest); the
    candidate with the best accuracy on the selection part is chosen and
    scored on both parts. Both parts come from the same examples, so the
    difference is selection bias alone.

    Args:
        correct: boolean array `(candidates, examples)`: whether each
            candidate (a checkpoint, a configuration) got each example right.
        selection_size: examples in the selection part (at least 1, fewer
            than the number of examples).
        splits: number of random splits.
        seed: seed of the splits.

    Returns:
        A DataFrame with one row per split and the columns `best on selection`,
        `same candidate on report` and `optimism` (their difference).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> correct = rng.random((20, 400)) < 0.7          # 20 equally good candidates
    >>> out = selection_optimism(correct, 50, splits=100)
    >>> bool(out["optimism"].mean() > 0.05), round(float(out["same candidate on report"].mean()), 1)
    (True, 0.7)
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2:
        raise ValueError(f"correct must be a 2-D array (candidates, examples), got shape {correct.shape}.")
    n = correct.shape[1]
    if isinstance(selection_size, bool) or not isinstance(selection_size, (int, np.integer)) \
            or not 1 <= selection_size < n:
        raise ValueError(f"selection_size must be an integer from 1 to {n - 1}, got {selection_size!r}.")
    splits = check_int("splits", splits, 1)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(splits):
        order = rng.permutation(n)
        chosen, report = order[:selection_size], order[selection_size:]
        scores = correct[:, chosen].mean(axis=1)
        best = int(scores.argmax())
        rows.append({"best on selection": float(scores[best]),
                     "same candidate on report": float(correct[best, report].mean())})
    frame = pd.DataFrame(rows)
    frame["optimism"] = frame["best on selection"] - frame["same candidate on report"]
    return frame

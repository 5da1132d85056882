"""Plots for the book: learning curves with spread bands, image grids, sweeps.

Every function takes `ax=None` (a new figure is made when it is `None`) and
returns the matplotlib `Axes`; none calls `show` or `savefig`.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_history", "plot_images", "plot_reliability", "plot_sweep"]


def _axes(ax, figsize=None):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _group(records):
    groups = {}
    for r in records:
        groups.setdefault(r.name, []).append(r)
    return groups


def plot_history(records, metric="accuracy", ax=None, colors=None, validation=True, band=True):
    """Learning curves of several runs, mean over seeds with a ±1 sd band.

    Runs with the same `name` are averaged; training curves are solid,
    validation curves dashed, one colour per configuration.

    Args:
        records: `RunRecord` objects, e.g. from `dlgen.run_sweep`.
        metric: history column to plot (`"loss"`, `"accuracy"`, ...).
        ax: axes to draw on.
        colors: `{name: colour}`; defaults to matplotlib's cycle.
        validation: also draw `val_<metric>`.
        band: shade mean ± one standard deviation across seeds.

    Returns:
        The `Axes`.

    Example:

    >>> from dlgen.training import RunRecord
    >>> h = pd.DataFrame({"loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.8, 0.9]})
    >>> runs = [RunRecord(h * (1 + s / 10), {}, 0.0, 0, {}, name="baseline", seed=s) for s in range(3)]
    >>> ax = plot_history(runs, metric="loss")
    >>> [line.get_label() for line in ax.lines], ax.get_xlabel()
    (['baseline (train)', 'baseline (val)'], 'epoch')
    >>> plt.close(ax.figure)
    """
    ax = _axes(ax)
    groups = _group(records)
    if not groups:
        raise ValueError("no records to plot.")
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, runs) in enumerate(groups.items()):
        color = (colors or {}).get(name, cycle[i % len(cycle)])
        cols = [(metric, "-", "train")]
        if validation:
            cols.append((f"val_{metric}", "--", "val"))
        for col, style, part in cols:
            if col not in runs[0].history.columns:
                raise KeyError(f"no column {col!r} in the history of {name!r}.")
            n = min(len(r.history) for r in runs)
            values = np.stack([r.history[col].to_numpy()[:n] for r in runs])
            epochs = np.arange(1, n + 1)
            mean = values.mean(axis=0)
            ax.plot(epochs, mean, style, color=color, label=f"{name} ({part})")
            if band and len(runs) > 1:
                sd = values.std(axis=0, ddof=1)
                ax.fill_between(epochs, mean - sd, mean + sd, color=color, alpha=0.15, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    return ax


def plot_images(images, labels=None, class_names=None, ncols=8, ax=None, cmap="gray_r"):
    """Show images as one grid on a single axes.

    Args:
        images: array `(n, h, w)` or `(n, h, w, c)`.
        labels: optional integer labels, written above each image.
        class_names: names indexed by label.
        ncols: images per row.
        ax: axes to draw on.
        cmap: colour map for single-channel images.

    Returns:
        The `Axes`.

    Example:

    >>> ax = plot_images(np.zeros((4, 8, 8)), labels=[0, 1, 2, 3], ncols=2)
    >>> [t.get_text() for t in ax.texts]
    ['0', '1', '2', '3']
    >>> plt.close(ax.figure)
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images must be a non-empty (n, h, w[, c]) array, got {images.shape}.")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels.")
    n, h, w = images.shape[:3]
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    pad = 2
    top = max(pad, int(round(0.4 * h))) if labels is not None else pad  # room for the labels
    pitch_y, pitch_x = h + top, w + pad
    canvas_shape = (nrows * pitch_y, ncols * pitch_x - pad) + images.shape[3:]
    canvas = np.full(canvas_shape, np.nan if images.ndim == 3 else 1.0, dtype=float)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    for i in range(n):
        r, c = divmod(i, ncols)
        y0, x0 = r * pitch_y + top, c * pitch_x
        canvas[y0 : y0 + h, x0 : x0 + w] = images[i] / scale
    ax = _axes(ax, figsize=(1.1 * ncols, 1.4 * nrows))
    ax.imshow(canvas, cmap=cmap if images.ndim == 3 else None, interpolation="nearest")
    if labels is not None:
        for i, lab in enumerate(labels):
            r, c = divmod(i, ncols)
            text = class_names[int(lab)] if class_names is not None else str(lab)
            ax.text(c * pitch_x + w / 2, r * pitch_y + top - 1, text, ha="center", va="bottom", fontsize=7)
    ax.set_axis_off()
    return ax


def plot_sweep(frame, x, y, ax=None, label=None, marker="o", **kwargs):
    """Mean ± sd of a per-run column against a swept setting.

    Args:
        frame: a per-run `DataFrame` (e.g. `dlgen.records_frame`) with columns
            `x` and `y`.
        x: the swept setting (numeric column).
        y: the measured column.
        ax: axes to draw on.
        label: legend label (defaults to `y`).
        marker, kwargs: passed to `Axes.errorbar`.

    Returns:
        The `Axes`.

    Example:

    >>> runs = pd.DataFrame({"rate": [0.1, 0.1, 1.0, 1.0], "acc": [0.8, 0.82, 0.7, 0.74]})
    >>> ax = plot_sweep(runs, "rate", "acc")
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('rate', 'acc')
    >>> plt.close(ax.figure)
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}.")
    for col in (x, y):
        if col not in frame.columns:
            raise KeyError(f"no column {col!r}; have {list(frame.columns)}.")
    ax = _axes(ax)
    stats = frame.groupby(x)[y].agg(["mean", "std"]).sort_index()
    ax.errorbar(stats.index, stats["mean"], yerr=stats["std"].fillna(0), marker=marker,
                capsize=3, label=label or y, **kwargs)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def plot_reliability(tables, ax=None):
    """Reliability diagram: accuracy against confidence, one line per model.

    Args:
        tables: `{label: DataFrame}` as returned by `dlgen.reliability`.
        ax: axes to draw on.

    Returns:
        The `Axes`. The diagonal is perfect calibration: points below it are
        overconfident (accuracy lower than the confidence), points above it
        underconfident.

    Example:

    >>> from dlgen.metrics import reliability
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> ax = plot_reliability({"model": reliability(p, np.array([0, 1, 1, 1]), n_bins=4)})
    >>> [line.get_label() for line in ax.lines]
    ['calibrated', 'model']
    >>> plt.close(ax.figure)
    """
    if not isinstance(tables, dict) or not tables:
        raise ValueError("tables must be a non-empty {label: reliability DataFrame} dict.")
    ax = _axes(ax)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    for label, table in tables.items():
        missing = {"confidence", "accuracy", "count"} - set(table.columns)
        if missing:
            raise KeyError(f"{label!r}: missing columns {sorted(missing)}; use dlgen.reliability.")
        ax.plot(table["confidence"], table["accuracy"], "o-", ms=4, label=label)
    ax.set_xlabel("confidence (largest predicted probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    return ax

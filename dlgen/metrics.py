"""Metrics the chapters share: calibration and multi-label scores.

NumPy in, pandas or floats out; nothing here depends on the Keras backend.
"""

import numpy as np
import pandas as pd

from ._checks import check_int
from .evaluation import EVAL_BATCH, predict

__all__ = [
    "accuracy",
    "predict_correct",
    "reliability",
    "expected_calibration_error",
    "multilabel_report",
    "exact_match",
]


def predict_correct(model, x, y, batch_size=None):
    """Whether `model` classifies each example right (its largest output is the label).

    Args:
        model: a classifier returning logits or probabilities, one column per class.
        x: inputs, as the model takes them.
        y: integer labels.
        batch_size: most examples per prediction call (default: `dlgen.evaluation.EVAL_BATCH`).

    Returns:
        A boolean array, one entry per example.

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((2,), 2, depth=0)
    >>> predict_correct(m, np.zeros((3, 2), "float32"), np.array([0, 0, 0])).shape
    (3,)
    """
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}.")
    return predict(model, x, batch_size=batch_size or EVAL_BATCH).argmax(axis=1) == y


def accuracy(model, x, y, batch_size=None):
    """Share of the examples that `model` classifies right (see `predict_correct`).

    Example:

    >>> from dlgen.models import build_mlp
    >>> m = build_mlp((2,), 2, depth=0)
    >>> 0.0 <= accuracy(m, np.ones((4, 2), "float32"), np.array([0, 1, 0, 1])) <= 1.0
    True
    """
    return float(np.mean(predict_correct(model, x, y, batch_size)))


def _check_probs(probs, y):
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y)
    if probs.ndim != 2:
        raise ValueError(f"probs must be 2-D (examples, classes), got shape {probs.shape}.")
    if y.ndim != 1 or len(y) != len(probs):
        raise ValueError(
            f"y must be 1-D with one label per row of probs ({len(probs)}), got shape {y.shape}."
        )
    if len(y) == 0:
        raise ValueError("probs and y are empty.")
    if not np.isfinite(probs).all() or (probs < 0).any() or (probs > 1).any():
        raise ValueError("probs must be probabilities in [0, 1] (apply softmax to logits first).")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= probs.shape[1]:
        raise ValueError(f"y must hold integer class indices in [0, {probs.shape[1] - 1}].")
    return probs, y


def reliability(probs, y, n_bins=10):
    """Reliability table: confidence against accuracy in equal-width bins.

    The confidence of a prediction is its largest class probability; it is
    correct when that class is the label. A calibrated model has, in every
    bin, an accuracy equal to its mean confidence.

    Args:
        probs: `(n, classes)` predicted probabilities.
        y: `(n,)` integer labels.
        n_bins: number of equal-width confidence bins over [0, 1].

    Returns:
        A DataFrame with one row per non-empty bin and the columns `lower`, `upper`,
        `confidence` (mean), `accuracy` and `count`.

    Example:

    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> reliability(p, np.array([0, 1, 1, 1]), n_bins=4)
       lower  upper  confidence  accuracy  count
    0   0.50   0.75        0.65       1.0      2
    1   0.75   1.00        0.85       0.5      2
    """
    probs, y = _check_probs(probs, y)
    n_bins = check_int("n_bins", n_bins, 1)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins, with a confidence of exactly 0 in the first bin.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            rows.append({"lower": edges[b], "upper": edges[b + 1],
                         "confidence": float(confidence[mask].mean()),
                         "accuracy": float(correct[mask].mean()), "count": int(mask.sum())})
    return pd.DataFrame(rows)


def expected_calibration_error(probs, y, n_bins=10):
    """Expected calibration error: the count-weighted mean of ``|accuracy - confidence|``.

    Computed over the bins of `reliability`; 0 for a perfectly calibrated
    model, at most 1.

    Example:

    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> round(expected_calibration_error(p, np.array([0, 1, 1, 1]), n_bins=4), 3)
    0.35
    """
    table = reliability(probs, y, n_bins)
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


def _check_multihot(name, a, shape=None):
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples, labels), got shape {a.shape}.")
    if shape is not None and a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}, expected {shape} like y_true.")
    if not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (threshold scores first).")
    return a.astype(bool)


def exact_match(y_true, y_pred):
    """Share of examples whose predicted label set equals the true one.

    Example:

    >>> exact_match([[1, 0, 1], [0, 1, 0]], [[1, 0, 1], [0, 1, 1]])
    0.5
    """
    t = _check_multihot("y_true", y_true)
    p = _check_multihot("y_pred", y_pred, t.shape)
    return float((t == p).all(axis=1).mean())


def multilabel_report(y_true, y_pred, label_names=None):
    """Per-label precision, recall, F1 and support of a multi-label prediction.

    Args:
        y_true: `(n, labels)` 0/1 array of the true label sets.
        y_pred: `(n, labels)` 0/1 array of the predicted label sets.
        label_names: names for the rows (default: 0, 1, ...).

    Returns:
        A DataFrame indexed by label with `precision`, `recall`, `f1` and
        `support` (true positives + false negatives). A label never
        predicted has precision NaN (0/0), not 0.

    Example:

    >>> multilabel_report([[1, 0], [1, 1]], [[1, 1], [0, 1]], ["a", "b"]).round(3).to_dict("index")
    {'a': {'precision': 1.0, 'recall': 0.5, 'f1': 0.667, 'support': 2}, 'b': {'precision': 0.5, 'recall': 1.0, 'f1': 0.667, 'support': 1}}
    """
    t = _check_multihot("y_true", y_true)
    p = _check_multihot("y_pred", y_pred, t.shape)
    names = list(range(t.shape[1])) if label_names is None else list(label_names)
    if len(names) != t.shape[1]:
        raise ValueError(f"label_names has {len(names)} names for {t.shape[1]} labels.")
    tp = (t & p).sum(axis=0).astype(float)
    predicted = p.sum(axis=0).astype(float)
    support = t.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / predicted
        recall = tp / support
        f1 = 2 * tp / (predicted + support)
    frame = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                          "support": support.astype(int)}, index=pd.Index(names, name="label"))
    return frame

"""A training doctor: read a run's learning curves and say what they show.

`diagnose(history)` takes a Keras `History`, a `dlgen.RunRecord` or a
DataFrame with one row per epoch and the columns `loss` and `val_loss`
(optionally `accuracy` and `val_accuracy`, or any metric passed as
`metric`). It returns a `Diagnosis`: a verdict, every finding with the
numbers behind it, and remedies ranked, each pointing to the chapter of the
book that measures it.

The verdicts, in order of precedence (the first that applies is the verdict;
all that apply are listed as findings):

- `"diverging"`: the loss became NaN or infinite, or the training loss ends
  above its minimum by at least `rise` (50%) of the run's scale.
- `"unstable"`: the training loss jumped up from one epoch to the next by
  more than `spike` (20%) of the run's scale at least once.

- `"overfitting"`: the validation loss ends at least `overfit_rise` (10%)
  above its minimum, reached at least `min_epochs_past_best` (2) epochs
  before the end, while the training loss kept falling after it.
- `"underfitting"`: the training loss has stalled (it fell by less than
  `plateau` (2%) per epoch, on average, over the last third of the run)
  while the training metric is still below `underfit_metric` (0.9): the
  model cannot fit even the data it trains on. Without a metric column,
  "poor" is judged on the loss: it ends above half of the first epoch's.
  (0.9 suits ten-class image tasks like the book's; pass another value for
  harder tasks.)
  For a `dlgen.RunRecord` whose training set was evaluated after training
  (`train_eval`, inference mode), that value is the final training metric:
  the history's column is a running average taken in training mode, with
  dropout and augmentation active, and would call a regularized run
  underfitting that fits its training set well.
- `"not converged"`: the validation loss still fell by more than
  `converging` (1%) per epoch, on average, over the last three epochs.
- `"healthy"`: none of the above.

The *scale* of a run is how far its training loss fell, from the first
epoch to its minimum, but at least a tenth of the first epoch's loss.
Measuring rises against it keeps a memorizing run, whose loss wobbles
between 0.001 and 0.002, from being called diverging.

The thresholds are in `THRESHOLDS`; pass `thresholds={...}` to change any.
They are rules of thumb for reading curves, tested on synthetic curves of
each kind and on real runs; they do not replace looking at the curves.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["THRESHOLDS", "VERDICTS", "REMEDIES", "Diagnosis", "diagnose"]

VERDICTS = ("diverging", "unstable", "overfitting", "underfitting", "not converged", "healthy")
"""Possible verdicts, in order of precedence."""

THRESHOLDS = {
    "rise": 0.5,                # training loss ends this share of the scale above its minimum: diverging
    "spike": 0.2,               # an epoch-to-epoch jump by this share of the scale: unstable
    "overfit_rise": 0.1,        # validation loss ends this much above its minimum: overfitting ...
    "min_epochs_past_best": 2,  # ... reached at least this many epochs before the end
    "plateau": 0.02,            # training loss falls less than this per epoch (last third): stalled
    "underfit_metric": 0.9,     # a stalled run whose training metric ends below this underfits
    "converging": 0.01,         # validation loss still falls this much per epoch at the end
}

# Remedies per verdict, best first: (what to do, chapter document, why, in one line).
REMEDIES = {
    "diverging": [
        ("lower the learning rate", "04_optimizers", "a too-large step is the usual cause; sweep it on a log grid"),
        ("clip the gradient norm", "02_backprop", "clipnorm keeps one huge gradient from wrecking the weights"),
        ("check the initialization", "01_initialization", "badly scaled weights make activations and gradients explode"),
        ("add batch normalization", "05_batch_norm", "it makes a network tolerate much larger learning rates"),
    ],
    "unstable": [
        ("decay the learning rate", "07_lr_decay", "smaller late steps remove the noise floor"),
        ("lower the learning rate", "04_optimizers", "spikes are the first sign of a step that is too large"),
        ("use a larger batch", "04_optimizers", "gradient noise falls with the batch size"),
        ("clip the gradient norm", "02_backprop", "it caps the occasional huge step"),
    ],
    "overfitting": [
        ("stop early, restoring the best weights", "08_early_stopping", "the best epoch is already behind"),
        ("add dropout", "06_dropout", "it shrinks the gap on a small training set"),
        ("augment the data, if the transformations keep the label", "09_augmentation",
         "it helps where it mimics the data's real variation"),
        ("get more data", "11_overfitting", "the most reliable cure of all (the learning curve); augmentation is a partial substitute"),
    ],
    "underfitting": [
        ("remove regularization (dropout, strong L2, augmentation)", "12_underfitting",
         "regularization makes underfitting worse"),
        ("train longer or with a better-tuned learning rate", "04_optimizers",
         "a stalled loss can be a too-small step"),
        ("use a bigger or better-suited model", "12_underfitting",
         "capacity is the cure for underfitting; more data is not (the capacity sweep and the remedies)"),
        ("normalize activations (batch normalization)", "05_batch_norm", "deep plain networks can stall"),
    ],
    "not converged": [
        ("train for more epochs", "08_early_stopping", "the validation loss is still falling: let early stopping decide"),
        ("decay the learning rate", "07_lr_decay", "a schedule finishes what a constant rate leaves open"),
        ("use momentum or Adam", "04_optimizers", "they need fewer steps on ill-conditioned problems"),
    ],
    "healthy": [],
}


@dataclass
class Diagnosis:
    """What `diagnose` found.

    Attributes:
        verdict: one of `VERDICTS` (the first finding by precedence).
        findings: every verdict that applies, `{verdict: explanation}`.
        evidence: the numbers behind the findings.
        remedies: for the verdict, `(what to do, chapter, why)` triples, best first.

    Example:

    >>> h = pd.DataFrame({"loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1],
    ...                   "val_loss": [1.0, 0.7, 0.6, 0.65, 0.72, 0.8, 0.9]})
    >>> d = diagnose(h)
    >>> d.verdict, d.evidence["best_val_epoch"], d.remedies[0][1]
    ('overfitting', 3, '08_early_stopping')
    """

    verdict: str
    findings: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    remedies: list = field(default_factory=list)

    def __str__(self):
        lines = [f"verdict: {self.verdict}"]
        lines += [f"- {name}: {text}" for name, text in self.findings.items()]
        if self.remedies:
            lines.append("remedies, best first:")
            lines += [f"  {i}. {what} (chapter {doc}): {why}"
                      for i, (what, doc, why) in enumerate(self.remedies, start=1)]
        return "\n".join(lines)

    def _repr_markdown_(self):
        md = [f"**Diagnosis: {self.verdict}**", ""]
        md += [f"- *{name}*: {text}" for name, text in self.findings.items()]
        if self.remedies:
            md += ["", "Remedies, best first:", ""]
            md += [f"{i}. {what} ([{doc}]({doc}.ipynb)): {why}"
                   for i, (what, doc, why) in enumerate(self.remedies, start=1)]
        return "\n".join(md)

    def to_dict(self):
        """A JSON-serializable dict."""
        return {"verdict": self.verdict, "findings": dict(self.findings),
                "evidence": {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                             for k, v in self.evidence.items()},
                "remedies": [list(r) for r in self.remedies]}


def _frame(history):
    if isinstance(history, pd.DataFrame):
        return history.reset_index(drop=True)
    if hasattr(history, "history") and isinstance(history.history, dict):   # keras History
        return pd.DataFrame(history.history)
    if hasattr(history, "history") and isinstance(history.history, pd.DataFrame):   # RunRecord
        return history.history.reset_index(drop=True)
    raise TypeError("history must be a keras History, a dlgen RunRecord or a pandas DataFrame, "
                    f"got {type(history).__name__}.")


def _per_epoch_drop(values):
    """Mean relative fall per epoch over `values` (positive: falling)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or values[0] <= 0:
        return 0.0
    return float((values[0] - values[-1]) / values[0] / (len(values) - 1))


def diagnose(history, metric="accuracy", thresholds=None):
    """Read a run's learning curves; see the module docstring for the rules.

    Args:
        history: a Keras `History`, a `dlgen.RunRecord` or a DataFrame with
            columns `loss` and `val_loss`, one row per epoch (at least 3).
        metric: the metric column used for underfitting and the gap
            (`"accuracy"` by default; ignored when absent).
        thresholds: overrides of `THRESHOLDS`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: fewer than 3 epochs, no `loss`/`val_loss` column, a
            loss that is NaN in every epoch, or an unknown threshold.

    Example:

    >>> h = pd.DataFrame({"loss": [1.0, 0.5, 0.3, 0.2, 0.1, 0.05],
    ...                   "val_loss": [1.0, 0.6, 0.5, 0.55, 0.65, 0.8]})
    >>> d = diagnose(h)
    >>> d.verdict, d.evidence["best_val_epoch"]
    ('overfitting', 3)
    """
    t = dict(THRESHOLDS)
    unknown = sorted(set(thresholds or {}) - set(t))
    if unknown:
        raise ValueError(f"unknown thresholds {unknown}; allowed: {', '.join(t)}.")
    t.update(thresholds or {})
    h = _frame(history)
    missing = [c for c in ("loss", "val_loss") if c not in h.columns]
    if missing:
        raise ValueError(f"history lacks the column(s) {missing}: diagnose needs the training and "
                         f"validation loss per epoch (fit with validation data); columns: {list(h.columns)}.")
    if len(h) < 3:
        raise ValueError(f"history has {len(h)} epoch(s); diagnose needs at least 3 to read a trend.")
    loss, val = h["loss"].to_numpy(float), h["val_loss"].to_numpy(float)
    if not np.isfinite(loss).any() or not np.isfinite(val).any():
        raise ValueError("the loss is NaN or infinite in every epoch: there is no curve to read "
                         "(the run diverged at once: see chapter 04_optimizers and 01_initialization).")
    n = len(h)
    findings, ev = {}, {"epochs": n}
    has_metric = metric in h.columns and f"val_{metric}" in h.columns

    # diverging
    bad = np.flatnonzero(~np.isfinite(loss) | ~np.isfinite(val))
    finite_loss = np.where(np.isfinite(loss), loss, np.nan)
    min_loss = float(np.nanmin(finite_loss))
    ev["min_train_loss"] = min_loss
    ev["final_train_loss"] = float(loss[-1])
    if len(bad):
        ev["first_bad_epoch"] = int(bad[0]) + 1
        findings["diverging"] = f"the loss is not finite from epoch {int(bad[0]) + 1}"
    first = float(loss[np.flatnonzero(np.isfinite(loss))[0]])
    scale = max(first - min_loss, 0.1 * abs(first))
    ev["scale"] = scale
    if not len(bad) and scale > 0 and loss[-1] - min_loss >= t["rise"] * scale:
        findings["diverging"] = (f"the training loss ends at {loss[-1]:.3g}, up from its minimum {min_loss:.3g} "
                                 f"by {(loss[-1] - min_loss) / scale:.0%} of the run's scale")

    # unstable
    finite = np.isfinite(loss)
    jumps = [(i + 2, loss[i + 1] / loss[i] - 1) for i in range(n - 1)
             if finite[i] and finite[i + 1] and loss[i] > 0 and loss[i + 1] - loss[i] > t["spike"] * scale]
    ev["spikes"] = len(jumps)
    if jumps:
        epoch, size = max(jumps, key=lambda j: j[1])
        findings["unstable"] = (f"the training loss jumped up {len(jumps)} time(s), by up to {size:.0%} "
                                f"(into epoch {epoch})")

    # overfitting
    vfin = np.where(np.isfinite(val), val, np.nan)
    best = int(np.nanargmin(vfin))
    ev["best_val_epoch"] = best + 1
    ev["best_val_loss"] = float(vfin[best])
    ev["final_val_loss"] = float(val[-1])
    if has_metric:
        after = getattr(history, "train_eval", None) or {}
        if metric in after:
            ev["final_train_metric"] = float(after[metric])
            ev["train_metric_source"] = "evaluated after training (inference mode)"
        else:
            ev["final_train_metric"] = float(h[metric].iloc[-1])
            ev["train_metric_source"] = "history, last epoch (training mode)"
        ev["final_val_metric"] = float(h[f"val_{metric}"].iloc[-1])
        ev["gap"] = ev["final_train_metric"] - ev["final_val_metric"]
    if (np.isfinite(val[-1]) and val[-1] >= (1 + t["overfit_rise"]) * vfin[best]
            and n - 1 - best >= t["min_epochs_past_best"] and loss[-1] < loss[best]):
        gap = f"; the {metric} gap is {ev['gap']:.3f}" if has_metric else ""
        findings["overfitting"] = (f"the validation loss was lowest at epoch {best + 1} ({vfin[best]:.3g}) and "
                                   f"ends {val[-1] / vfin[best] - 1:.0%} higher while the training loss "
                                   f"kept falling{gap}")

    # underfitting
    third = max(2, n // 3)
    stall = _per_epoch_drop(loss[-third:])
    ev["train_loss_drop_per_epoch_late"] = stall
    if np.isfinite(loss[-third:]).all() and stall < t["plateau"]:
        if has_metric:
            low = ev["final_train_metric"] < t["underfit_metric"]
            why = (f"training {metric} {ev['final_train_metric']:.3f}, validation "
                   f"{ev['final_val_metric']:.3f}")
        else:
            low = loss[-1] > 0.5 * loss[0]
            why = f"the training loss is still {loss[-1] / loss[0]:.0%} of its first value"
        if low and "overfitting" not in findings:
            findings["underfitting"] = (f"the training loss has stalled (falling {stall:.1%} per epoch over "
                                        f"the last {third} epochs) at a poor fit: {why}")

    # not converged
    late = _per_epoch_drop(val[-3:]) if np.isfinite(val[-3:]).all() else 0.0
    ev["val_loss_drop_per_epoch_last3"] = late
    if late > t["converging"]:
        findings["not converged"] = (f"the validation loss still falls {late:.1%} per epoch over the last "
                                     "three epochs")

    verdict = next((v for v in VERDICTS if v in findings), "healthy")
    if verdict == "healthy":
        findings["healthy"] = "no sign of divergence, instability, overfitting, underfitting or an unfinished run"
    return Diagnosis(verdict, findings, ev, list(REMEDIES[verdict]))

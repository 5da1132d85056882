"""A training doctor: read a run's learning curves and say what they show.

`diagnose(history)` reads the learning curves of one run, from whatever the
run left behind: a Keras `History`, a `dlgen.RunRecord`, a DataFrame or a dict
of lists with one entry per epoch, or a path (a `keras.callbacks.CSVLogger`
file, a JSON history, or a directory of TensorBoard event files written by
`keras.callbacks.TensorBoard`). Per-step logs (several rows per epoch, an
`epoch` column, or a `step` column with `steps_per_epoch`) are averaged per
epoch. It returns a `Diagnosis`: a verdict, every finding with the numbers
behind it, and remedies ranked, each pointing to the chapter of the book
that measures it. `python -m dlgen.diagnose PATH` does the same from a shell.

**The metric.** By default the doctor uses the first of Keras's accuracy-like
metrics that the curves hold for training and validation (`accuracy`, `acc`,
`sparse_categorical_accuracy`, `categorical_accuracy`, `binary_accuracy`,
top-k accuracies, `auc`, then `precision`, `recall`, F1); pass `metric=` for
another, whose direction is read from its name (`mae`, `mse`, ... are lower
is better) or given with `mode=`.

**The chance level.** A classifier that has learned nothing predicts the
class frequencies: its cross-entropy is ln C for C balanced classes and its
accuracy 1/C (an AUC of 0.5). Pass `classes=C`; without it, C is read from
an accuracy metric that never left its first value and whose loss matches
it (loss close to ln(1/accuracy), the signature of uniform predictions).

**Noise.** Each curve's epoch-to-epoch noise is a robust spread: the median
absolute deviation of its second differences, scaled to a standard deviation
(`noise`; second differences remove a locally linear trend, so a falling
curve's descent is not mistaken for noise, and the median ignores a few
spikes). Levels are compared after light smoothing (a running median of 3).
Every rule that reads a rise or a trend requires it to be large against that
noise *and* large in practice; a fixed percentage alone calls a noisy
plateau overfitting or unfinished by chance.

The verdicts, in order of precedence (the first that applies is the verdict;
all that apply are listed as findings):

- `"diverging"`: the loss became NaN or infinite, or the smoothed training
  loss ends above its minimum by at least `rise` (50%) of the run's scale and
  by `noise_z` (3) times its noise, or (with a chance level) it ends above
  `blowup` (2) times ln C (4.6 for ten classes), whether it rises or wobbles
  down: far worse than a uniform guess, so the logits are blown up, usually
  by steps too large for the network, sometimes by initial weights far too
  large. (Keras's `loss` includes weight penalties: a huge L2 penalty can
  lift it there too; `findings` says so.)
- `"stuck"`: the training loss never left the chance level (it sits within
  `stuck_band`, 5%, of ln C and never fell further below it) and the metric never rose more than
  `stuck_metric` (5 points) above its chance level, and it is not falling
  (as for underfitting, below): the network learns nothing at all (a dead or badly scaled network, a learning rate far too
  small, labels that do not match the inputs). Needs a chance level.
- `"unstable"`: the training loss jumped up from one epoch to the next by
  more than `spike` (20%) of the run's scale and by more than `spike_z` (5)
  times the noise of a difference, at least once; or, over at least 8
  epochs, its epoch-to-epoch noise is more than `jitter` (5%) of the scale
  or of the level it ends at, whichever is larger (3% noise on a flat plateau is not an oscillation):
  the loss oscillates, the Deep Learning Tuning Playbook's high step-to-step
  variance (a learning rate too high, a batch too small). On the labelled
  runs of `dlgen.pathologies` (2,000 Fashion-MNIST images, batches of 32 to
  64, two hidden layers), Adam at 1e-3 wobbles by 0.3 to 2% of the scale,
  SGD with momentum 0.9 at 0.05 by 3 to 4%, at 0.1 by 4 to 11%.
- `"overfitting"`: the smoothed validation loss ends above its minimum by at
  least `overfit_rise` (5%) and by `noise_z` noise units, the minimum lying at
  least `min_epochs_past_best` (2) epochs before the end, while the training
  loss kept falling, and the validation metric *lost* ground since the
  minimum (it fell by at least `metric_drop`, 1 point, and by `noise_z`
  noise units). Without a metric, a rising validation loss is overfitting.
- `"overconfident"`: the validation loss rises as for overfitting, but the
  validation metric holds or improves (and is not stuck near chance, less
  than a quarter of the way to perfect, as on labels that are noise, which
  is memorization and so overfitting): the network still gets more images
  right and is more confident about the ones it gets wrong, which the
  cross-entropy punishes. Restoring the weights of the lowest validation
  loss would give back accuracy; calibration or label smoothing fixes the
  loss instead (chapter 3).
- `"underfitting"`: the training loss has stalled (over the last third of
  the run it does not fall significantly, `trend_t` standard errors, by at
  least `plateau`, 2%, per epoch) at a poor fit, judged against the task:
  with `target=` (the training metric the task allows: a bigger model's, a
  person's), the training metric ends more than `target_tol` (2 points)
  short of it; without one, it covers less than `underfit_share` (half) of
  the way from the chance level to a perfect fit. (A stalled run at 75% on a
  hard ten-class task is not called underfitting without a target: nothing
  in its curves says that more is possible.) Without a metric, the loss
  has fallen less than that share of the way from its chance level (or its
  first value) to zero. For a `dlgen.RunRecord` whose training set was
  evaluated after training (`train_eval`, inference mode), that value is the
  final training metric: the history's column is a running average taken in
  training mode, with dropout and augmentation active.
- `"not converged"`: over the last third of the run the validation loss
  still falls significantly (`trend_t` standard errors of its slope) and by
  at least `converging` (0.5%) per epoch.
- `"healthy"`: none of the above.

The *scale* of a run is how far its training loss fell, from the first
epoch to its minimum, but at least a tenth of the first epoch's loss.
Measuring rises against it keeps a memorizing run, whose loss wobbles
between 0.001 and 0.002, from being called diverging.

The thresholds are in `THRESHOLDS`; pass `thresholds={...}` to change any.
They are rules of thumb for reading curves, tested on synthetic curves of
each kind (a noisy plateau among them, 300 draws) and on real runs; they do
not replace looking at the curves.
"""

import argparse
import json
import math
import pathlib
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["THRESHOLDS", "VERDICTS", "REMEDIES", "METRIC_ALIASES", "Diagnosis", "diagnose", "noise",
           "read_history"]

VERDICTS = ("diverging", "stuck", "unstable", "overfitting", "overconfident", "underfitting",
            "not converged", "healthy")
"""Possible verdicts, in order of precedence."""

HEALTHY = ("healthy",)

THRESHOLDS = {
    "rise": 0.5,                # training loss ends this share of the scale above its minimum: diverging
    "stuck_band": 0.05,         # stuck: the loss never falls this share below the chance level ln C ...
    "stuck_metric": 0.05,       # ... and the metric never rises this far above its chance level
    "blowup": 2.0,              # diverging: the training loss ends above this many times ln C
    "spike": 0.2,               # an epoch-to-epoch jump by this share of the scale: unstable
    "jitter": 0.05,             # unstable: the training loss's noise is this share of its fall or level
    "noise_z": 3.0,             # a rise must also exceed this many noise units
    "spike_z": 5.0,             # a jump must also exceed this many noise units of a difference
    "overfit_rise": 0.05,       # validation loss ends this share above its (smoothed) minimum ...
    "min_epochs_past_best": 2,  # ... reached at least this many epochs before the end
    "metric_drop": 0.01,        # overfitting, not overconfidence: the validation metric fell this much
    "trend_t": 2.5,             # a late trend counts when its slope is this many standard errors from 0
    "plateau": 0.02,            # stalled: the training loss falls less than this share per epoch (last third)
    "underfit_share": 0.5,      # a stalled fit covering less than this share of chance -> perfect underfits
    "target_tol": 0.02,         # with a target: a stalled fit further than this short of it underfits
    "converging": 0.005,        # not converged: the validation loss still falls this share per epoch
}

# Keras's names of accuracy-like metrics, preferred first; each is higher-is-better.
METRIC_ALIASES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
                  "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "precision",
                  "recall", "f1_score", "fbeta_score")
_ACCURACY_LIKE = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")

# Remedies per verdict, best first: (what to do, chapter document, why, in one line).
REMEDIES = {
    "diverging": [
        ("lower the learning rate", "04_optimizers", "a too-large step is the usual cause; sweep it on a log grid"),
        ("clip the gradient norm", "02_backprop", "clipnorm keeps one huge gradient from wrecking the weights"),
        ("check the initialization", "01_initialization", "badly scaled weights make activations and gradients explode"),
        ("add batch normalization", "05_batch_norm", "it makes a network tolerate much larger learning rates"),
    ],
    "stuck": [
        ("check the initialization", "01_initialization",
         "weights scaled too small (or too large) leave the output constant: the signal dies on the way"),
        ("raise the learning rate (a range test)", "07_lr_decay",
         "a rate orders of magnitude too small leaves the loss where it started"),
        ("check the data and labels pipeline", "02_backprop",
         "inputs that are all zero or labels shuffled apart from their images leave nothing to learn; "
         "dlgen.preflight overfits one batch and compares it with blank inputs"),
        ("use a model that can represent the task", "12_underfitting",
         "a linear model stays at chance on a task like XOR"),
    ],
    "unstable": [
        ("decay the learning rate", "07_lr_decay", "smaller late steps remove the noise floor"),
        ("lower the learning rate", "04_optimizers", "spikes are the first sign of a step that is too large"),
        ("use a larger batch", "04_optimizers", "gradient noise falls with the batch size"),
        ("clip the gradient norm", "02_backprop", "it caps the occasional huge step"),
    ],
    "overfitting": [
        ("get more data", "11_overfitting",
         "the most reliable cure measured in the book (the learning curve); augmentation is a partial substitute"),
        ("stop early, restoring the best weights", "08_early_stopping", "the best epoch is already behind"),
        ("add dropout", "06_dropout", "it shrinks the gap on a small training set"),
        ("augment the data, if the transformations keep the label", "09_augmentation",
         "it helps where it mimics the data's real variation"),
    ],
    "overconfident": [
        ("calibrate the probabilities or use label smoothing", "03_losses",
         "the loss rises because confident mistakes cost more, not because fewer images are right"),
        ("monitor the metric you care about, not the loss", "08_early_stopping",
         "restoring the weights of the lowest validation loss would give back accuracy here"),
        ("add dropout or weight decay", "06_dropout", "regularization tempers the growth of the logits"),
    ],
    "underfitting": [
        ("use a bigger or better-suited model", "12_underfitting",
         "capacity is the cure for underfitting; more data is not (the capacity sweep and the remedies)"),
        ("remove regularization (dropout, strong L2, augmentation)", "12_underfitting",
         "regularization makes underfitting worse"),
        ("train longer or with a better-tuned learning rate", "04_optimizers",
         "a stalled loss can be a too-small step"),
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
    ('overfitting', 3, '11_overfitting')
    """

    verdict: str
    findings: dict = field(default_factory=dict)
    evidence: dict = field(default_factory=dict)
    remedies: list = field(default_factory=list)

    @property
    def healthy(self):
        """Whether the verdict is `"healthy"`."""
        return self.verdict in HEALTHY

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
        def plain(v):
            if isinstance(v, (np.floating, float)):
                return None if not np.isfinite(v) else float(v)
            if isinstance(v, np.integer):
                return int(v)
            return v
        return {"verdict": self.verdict, "findings": dict(self.findings),
                "evidence": {k: plain(v) for k, v in self.evidence.items()},
                "remedies": [list(r) for r in self.remedies]}


# -- reading curves ---------------------------------------------------------

def _read_tensorboard(folder):
    try:
        from tensorboard.backend.event_processing import event_accumulator
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("reading TensorBoard logs needs the tensorboard package: pip install tensorboard") from err
    files = sorted(folder.rglob("events.out.tfevents.*"))
    if not files:
        raise ValueError(f"{folder} holds no TensorBoard event files (events.out.tfevents.*).")
    columns = {}
    for run in sorted({f.parent for f in files}):
        prefix = "val_" if run.name in ("validation", "val", "eval") else ""
        acc = event_accumulator.EventAccumulator(str(run), size_guidance={event_accumulator.TENSORS: 0,
                                                                          event_accumulator.SCALARS: 0})
        acc.Reload()
        tags = acc.Tags()
        series = {}
        for tag in tags.get("scalars", []):
            series[tag] = {e.step: float(e.value) for e in acc.Scalars(tag)}
        for tag in tags.get("tensors", []):
            from tensorboard.util import tensor_util
            values = {}
            for e in acc.Tensors(tag):
                array = tensor_util.make_ndarray(e.tensor_proto)
                if array.size == 1 and np.issubdtype(array.dtype, np.number):
                    values[e.step] = float(array.reshape(()))
            if values:
                series[tag] = values
        for tag, values in series.items():
            if not tag.startswith("epoch_"):    # batch_ tags and evaluation_*_vs_iterations: per step
                continue
            name = tag.removeprefix("epoch_")
            if name in ("learning_rate", "steps_per_second"):
                continue
            columns[prefix + name] = values
    if not columns:
        raise ValueError(f"the TensorBoard logs in {folder} hold no per-epoch scalars (epoch_loss, ...): "
                         "write them with keras.callbacks.TensorBoard, which logs them every epoch.")
    frame = pd.DataFrame(columns).sort_index()
    frame.index.name = "epoch"
    return frame


def _read_path(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or directory: {path}")
    if path.is_dir():
        return _read_tensorboard(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".log", ".txt"):
        try:
            frame = pd.read_csv(path, sep=None, engine="python")
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path} is empty: there is no curve to read.") from None
        return frame
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err.msg} at line {err.lineno}).") from None
        if isinstance(data, dict) and isinstance(data.get("history"), (dict, list)):
            data = data["history"]          # {"history": {...}} as a RunRecord's to_dict writes it
        if isinstance(data, (dict, list)):
            return pd.DataFrame(data)
        raise ValueError(f"{path} holds a {type(data).__name__}; a JSON history is a dict of lists "
                         "(keras History.history) or a list of one dict per epoch.")
    raise ValueError(f"cannot read {path}: give a CSVLogger file (.csv), a JSON history (.json) or a "
                     "directory of TensorBoard event files.")


def read_history(history, steps_per_epoch=None):
    """The learning curves of a run as a DataFrame, one row per epoch.

    Args:
        history: a Keras `History`, a `dlgen.RunRecord`, a DataFrame, a dict of
            lists (`History.history`) or a list of per-epoch dicts, or a path: a
            `CSVLogger` file, a JSON history or a TensorBoard log directory.
        steps_per_epoch: for per-step logs that have a `step` column and no
            `epoch` column, how many steps make an epoch.

    Returns:
        A DataFrame indexed from 1, one row per epoch. Rows that share an
        `epoch` value (per-step logs) are averaged, each column over its
        finite values; the validation columns, logged once per epoch, keep
        that value.

    Example:

    >>> steps = pd.DataFrame({"epoch": [0, 0, 1, 1], "loss": [1.0, 0.8, 0.6, 0.4]})
    >>> read_history(steps)["loss"].round(2).tolist()
    [0.9, 0.5]
    """
    if isinstance(history, (str, pathlib.Path)):
        frame = _read_path(history)
    elif isinstance(history, pd.DataFrame):
        frame = history.copy()
    elif isinstance(history, dict):
        frame = pd.DataFrame(history)
    elif isinstance(history, list) and all(isinstance(row, dict) for row in history):
        frame = pd.DataFrame(history)
    elif hasattr(history, "history") and isinstance(history.history, dict):     # keras History
        frame = pd.DataFrame(history.history)
    elif hasattr(history, "history") and isinstance(history.history, pd.DataFrame):   # RunRecord
        frame = history.history.copy()
    else:
        raise TypeError("history must be a keras History, a dlgen RunRecord, a DataFrame, a dict of lists, "
                        f"or a path to a CSV, JSON or TensorBoard log; got {type(history).__name__}.")
    if "epoch" in frame.columns:
        if frame["epoch"].duplicated().any():
            frame = frame.groupby("epoch", sort=True).mean(numeric_only=True)
        else:
            frame = frame.set_index("epoch")
    elif "step" in frame.columns and steps_per_epoch is not None:
        from ._checks import check_int
        per = check_int("steps_per_epoch", steps_per_epoch, 1)
        frame = frame.assign(epoch=(frame["step"] - frame["step"].min()) // per).drop(columns="step")
        frame = frame.groupby("epoch", sort=True).mean(numeric_only=True)
    elif "step" in frame.columns and len(frame) > 1 and frame["step"].diff().dropna().eq(1).all() \
            and len(frame) > 200:
        raise ValueError(f"these look like per-step logs ({len(frame)} rows, a 'step' column and no 'epoch'): "
                         "pass steps_per_epoch= to average them per epoch.")
    frame = frame.drop(columns=[c for c in ("step",) if c in frame.columns])
    frame = frame.apply(pd.to_numeric, errors="coerce")
    frame = frame.reset_index(drop=True)
    frame.index = frame.index + 1
    frame.index.name = "epoch"
    return frame


def _find_metric(columns, metric):
    if metric not in (None, "auto"):
        return metric if metric in columns and f"val_{metric}" in columns else None
    for name in METRIC_ALIASES:
        if name in columns and f"val_{name}" in columns:
            return name
    return None


def _metric_chance(metric, classes):
    name = metric.lower()
    if name == "auc":
        return 0.5
    if name in _ACCURACY_LIKE and classes:
        return 1.0 / classes
    return None


# -- measuring a curve ------------------------------------------------------

def noise(values):
    """Robust epoch-to-epoch noise of a curve (a standard deviation).

    The median absolute deviation of the curve's second differences, scaled
    to a standard deviation for normal noise (x 1.4826 / sqrt(6)): second
    differences cancel a locally linear trend, and the median ignores a few
    spikes or a steep start. 0 for fewer than three finite values.

    >>> rng = np.random.default_rng(0)
    >>> flat = 1 + 0.03 * rng.normal(size=2000)
    >>> round(noise(flat), 2), noise(np.linspace(2, 1, 20)) < 1e-9
    (0.03, True)
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return 0.0
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6))


def _smooth(values):
    """Running median of 5, of 3 for runs shorter than 10 epochs; at the ends, the mean of the values there.

    >>> _smooth([1.0, 5.0, 1.0, 1.0, 1.0]).tolist()
    [3.0, 1.0, 1.0, 1.0, 1.0]
    """
    x = np.asarray(values, dtype=float)
    if x.size < 3:
        return x.copy()
    half = 2 if x.size >= 10 else 1
    out = np.empty_like(x)
    for i in range(x.size):
        lo, hi = i - half, i + half + 1
        if lo < 0 or hi > x.size:
            out[i] = x[max(lo, 0):min(hi, x.size)].mean() if i in (0, x.size - 1) else \
                np.median(x[max(lo, 0):min(hi, x.size)])
        else:
            out[i] = np.median(x[lo:hi])
    return out


def _trend(values):
    """Slope of a least-squares line through `values`, and its t statistic."""
    y = np.asarray(values, dtype=float)
    n = y.size
    t = np.arange(n, dtype=float)
    t -= t.mean()
    slope = float((t * (y - y.mean())).sum() / (t * t).sum())
    resid = y - y.mean() - slope * t
    dof = n - 2
    se = math.sqrt(float((resid ** 2).sum()) / dof / float((t * t).sum())) if dof > 0 else 0.0
    if se == 0:
        return slope, (math.copysign(math.inf, slope) if slope else 0.0)
    return slope, slope / se


def _late(n):
    """The late window: the last third of the run, at least 5 epochs (all of a shorter run)."""
    return min(n, max(5, n // 3))


# -- the rules ----------------------------------------------------------------

def diagnose(history, metric="auto", thresholds=None, classes=None, target=None, mode="auto",
             steps_per_epoch=None):
    """Read a run's learning curves; see the module docstring for the rules.

    Args:
        history: a Keras `History`, a `dlgen.RunRecord`, a DataFrame, a dict of
            lists, or a path (CSVLogger file, JSON history, TensorBoard log
            directory): anything `read_history` reads, with the training and
            validation loss for at least 3 epochs.
        metric: the metric column for the chance level, underfitting and the gap;
            `"auto"` takes the first of `METRIC_ALIASES` present; `None` uses the loss only.
        thresholds: overrides of `THRESHOLDS`.
        classes: the number of classes, for the chance level ln C (and 1/C accuracy).
        target: the training metric the task allows (e.g. a larger model's); a stalled
            run further than `target_tol` short of it underfits.
        mode: `"auto"`, `"max"` or `"min"`: whether higher values of the metric are better.
        steps_per_epoch: for per-step logs with a `step` column, see `read_history`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: fewer than 3 epochs, no `loss`/`val_loss` column, a
            loss that is NaN in every epoch, an unknown threshold, or a bad
            `classes`, `target` or `metric`.

    Example:

    >>> h = pd.DataFrame({"loss": [2.303, 2.302, 2.303, 2.302, 2.303],
    ...                   "val_loss": [2.303, 2.303, 2.302, 2.303, 2.303],
    ...                   "accuracy": [0.1] * 5, "val_accuracy": [0.1] * 5})
    >>> diagnose(h).verdict
    'stuck'
    """
    from ._checks import check_int, metric_mode

    t = dict(THRESHOLDS)
    unknown = sorted(set(thresholds or {}) - set(t))
    if unknown:
        raise ValueError(f"unknown thresholds {unknown}; allowed: {', '.join(t)}.")
    t.update(thresholds or {})
    if classes is not None:
        classes = check_int("classes", classes, 2)
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                               or not math.isfinite(target)):
        raise ValueError(f"target must be a finite number (the training metric the task allows), got {target!r}.")
    h = read_history(history, steps_per_epoch=steps_per_epoch)
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
    if metric not in (None, "auto") and (metric not in h.columns or f"val_{metric}" not in h.columns):
        raise ValueError(f"no columns {metric!r} and 'val_{metric}' in the history; columns: {list(h.columns)}.")
    metric = _find_metric(h.columns, metric)
    n = len(h)
    findings, ev = {}, {"epochs": n}
    sign = 1.0
    if metric is not None:
        sign = 1.0 if metric_mode(metric, mode) == "max" else -1.0
        ev["metric"] = metric
        m_train = h[metric].to_numpy(float)
        m_val = h[f"val_{metric}"].to_numpy(float)

    # diverging
    bad = np.flatnonzero(~np.isfinite(loss) | ~np.isfinite(val))
    min_loss = float(np.nanmin(np.where(np.isfinite(loss), loss, np.nan)))
    ev["min_train_loss"] = min_loss
    ev["final_train_loss"] = float(loss[-1])
    if len(bad):
        ev["first_bad_epoch"] = int(bad[0]) + 1
        findings["diverging"] = f"the loss is not finite from epoch {int(bad[0]) + 1}"
    first = float(loss[np.flatnonzero(np.isfinite(loss))[0]])
    scale = max(first - min_loss, 0.1 * abs(first))
    ev["scale"] = scale
    good = np.isfinite(loss) & np.isfinite(val)
    lf, vf = loss[good], val[good]
    ev["train_loss_noise"] = noise_loss = noise(lf)
    ev["val_loss_noise"] = noise_val = noise(vf)
    st = _smooth(loss)
    up = float(st[-1] - np.min(st)) if not len(bad) else 0.0
    if not len(bad) and scale > 0 and up >= t["rise"] * scale and up >= t["noise_z"] * noise_loss:
        findings["diverging"] = (f"the training loss ends at {loss[-1]:.3g}, up from its minimum {min_loss:.3g} "
                                 f"by {up / scale:.0%} of the run's scale (smoothed)")

    # the chance level
    if metric is not None:
        train_after = getattr(history, "train_eval", None) or {}
        if metric in train_after:
            ev["final_train_metric"] = float(train_after[metric])
            ev["train_metric_source"] = "evaluated after training (inference mode)"
        else:
            ev["final_train_metric"] = float(m_train[-1])
            ev["train_metric_source"] = "history, last epoch (training mode)"
        ev["final_val_metric"] = float(m_val[-1])
        ev["gap"] = sign * (ev["final_train_metric"] - ev["final_val_metric"])
    c = classes
    if c is None and metric is not None and metric.lower() in _ACCURACY_LIKE and np.isfinite(m_train).all():
        # uniform predictions: accuracy 1/C and loss ln C; read C off a metric that never moved
        level = float(np.median(m_train))
        if 0 < level <= 0.5 and float(np.max(m_train)) - float(m_train[0]) < t["stuck_metric"] \
                and abs(float(np.median(lf)) - math.log(1 / level)) <= t["stuck_band"] * math.log(1 / level) * 2:
            c = max(2, int(round(1 / level)))
            ev["classes_from"] = "the metric's chance level"
    chance_loss = math.log(c) if c else None
    chance_metric = _metric_chance(metric, c) if metric is not None else None
    ev["classes"] = c
    ev["chance_loss"] = chance_loss
    ev["chance_metric"] = chance_metric

    # diverging: far worse than a uniform guess at the end
    if chance_loss is not None and not len(bad) and "diverging" not in findings \
            and st[-1] > t["blowup"] * chance_loss:
        findings["diverging"] = (f"the training loss ends at {st[-1]:.3g} (smoothed), {st[-1] / chance_loss:.1f} "
                                 f"times that of a uniform guess (ln {c} = {chance_loss:.3g}): the logits are "
                                 f"blown up, usually by steps too large for the network (or by initial weights "
                                 f"far too large; a weight penalty counted in the loss can lift it too)")

    # is the training loss still falling? (the late window, against its noise)
    w = _late(n)
    tail = loss[-w:]
    slope, tstat = _trend(tail) if np.isfinite(tail).all() and w >= 3 else (0.0, 0.0)
    level = float(np.mean(tail)) if np.isfinite(tail).all() else math.nan
    drop = -slope / level if level and np.isfinite(level) and level > 0 else 0.0
    ev["train_loss_drop_per_epoch_late"] = drop
    stalled = not (drop >= t["plateau"] and -tstat >= t["trend_t"])
    ev["stalled"] = bool(stalled)

    # stuck
    if chance_loss is not None and not len(bad) and stalled:
        never_left = (min_loss >= (1 - t["stuck_band"]) * chance_loss
                      and float(np.median(lf)) <= (1 + t["stuck_band"]) * chance_loss)
        metric_flat = True
        if metric is not None and chance_metric is not None and sign > 0:
            metric_flat = float(np.nanmax(m_train)) <= chance_metric + t["stuck_metric"]
        if never_left and metric_flat:
            what = (f"; training {metric} at most {np.nanmax(m_train):.3f} (chance {chance_metric:.3f})"
                    if metric is not None and chance_metric is not None else "")
            findings["stuck"] = (f"the training loss never left the chance level: its lowest value is "
                                 f"{min_loss:.4g}, against ln {c} = {chance_loss:.4g}{what}")

    # unstable
    jump_floor = max(t["spike"] * scale, t["spike_z"] * math.sqrt(2) * noise_loss)
    jumps = [(i + 2, loss[i + 1] / loss[i] - 1) for i in range(n - 1)
             if good[i] and good[i + 1] and loss[i] > 0 and loss[i + 1] - loss[i] > jump_floor]
    ev["spikes"] = len(jumps)
    # noise against the larger of the fall and the level the loss ends at: a flat plateau's
    # scale is a tenth of its level, and 3% noise on it is not an oscillation
    late_level = float(np.mean(loss[-w:])) if np.isfinite(loss[-w:]).all() else 0.0
    reach = max(scale, late_level)
    fell = first - min_loss
    ev["jitter"] = jitter = noise_loss / reach if reach > 0 else 0.0
    if jumps:
        epoch, size = max(jumps, key=lambda j: j[1])
        findings["unstable"] = (f"the training loss jumped up {len(jumps)} time(s), by up to {size:.0%} "
                                f"(into epoch {epoch})")
    elif len(lf) >= 8 and jitter > t["jitter"]:
        findings["unstable"] = (f"the training loss oscillates: its epoch-to-epoch noise is {jitter:.1%} of "
                                f"{'how far it fell' if fell >= late_level else 'its level'} "
                                f"(more than {t['jitter']:.0%})")

    # overfitting or overconfidence: a rising validation loss
    vfin = np.where(np.isfinite(val), val, np.nan)
    best = int(np.nanargmin(vfin))
    ev["best_val_epoch"] = best + 1
    ev["best_val_loss"] = float(vfin[best])
    ev["final_val_loss"] = float(val[-1])
    rising = False
    if good.all():
        sv = _smooth(val)
        sbest = int(np.argmin(sv))
        rise = float(sv[-1] - sv[sbest])
        ev["val_loss_rise"] = rise / abs(sv[sbest]) if sv[sbest] else math.inf
        rising = (rise >= t["overfit_rise"] * abs(sv[sbest]) and rise >= t["noise_z"] * noise_val
                  and n - 1 - sbest >= t["min_epochs_past_best"] and loss[-1] < loss[sbest])
    if rising:
        text = (f"the validation loss was lowest at epoch {best + 1} ({vfin[best]:.3g}) and ends "
                f"{ev['val_loss_rise']:.0%} higher (smoothed; its epoch-to-epoch noise is {noise_val:.2g}) "
                "while the training loss kept falling")
        if metric is not None:
            sm = _smooth(m_val)
            change = sign * float(sm[-1] - sm[sbest])
            noise_m = noise(m_val)
            ev["val_metric_change_since_best"] = change
            lost = -change >= max(t["metric_drop"], t["noise_z"] * noise_m)
            # a validation metric that stays near chance while the training set is fitted is memorization
            base = chance_metric if chance_metric is not None else 0.0
            val_share = sign * (float(sm[-1]) - base) / (1 - base) if sign > 0 and base < 1 else 1.0
            ev["val_fit_share"] = val_share
            lost = lost or val_share < t["underfit_share"] * 0.5
            detail = (f"; validation {metric} went from {sm[sbest]:.3f} to {sm[-1]:.3f} (smoothed)"
                      f" and the {metric} gap is {ev['gap']:.3f}")
            if lost:
                findings["overfitting"] = text + detail
            else:
                findings["overconfident"] = (text + detail + ": the network still gets as many validation "
                                             "examples right, and is more confident about those it gets wrong")
        else:
            findings["overfitting"] = text + " (no metric to tell it from overconfidence)"

    # underfitting: a stalled training loss at a poor fit, judged against the task
    if stalled and np.isfinite(tail).all() and not {"stuck", "diverging"} & set(findings):
        poor, why = False, ""
        if metric is not None and sign > 0:
            fit = ev["final_train_metric"]
            if target is not None:
                poor = fit < target - t["target_tol"]
                why = f"training {metric} {fit:.3f} against a target of {target:.3f}"
            else:
                base = chance_metric if chance_metric is not None else 0.0
                share = (fit - base) / (1 - base) if base < 1 else 1.0
                ev["fit_share"] = share
                poor = share < t["underfit_share"]
                why = (f"training {metric} {fit:.3f} covers {share:.0%} of the way from chance "
                       f"({base:.3f}) to a perfect fit")
            why += f"; validation {ev['final_val_metric']:.3f}"
        else:
            start = chance_loss if chance_loss is not None else first
            share = 1 - float(loss[-1]) / start if start > 0 else 1.0
            ev["fit_share"] = share
            poor = share < t["underfit_share"]
            why = (f"the training loss {loss[-1]:.3g} covers {share:.0%} of the way from "
                   f"{'ln C' if chance_loss is not None else 'its first value'} ({start:.3g}) to zero")
        if poor and not {"overfitting", "overconfident"} & set(findings):
            findings["underfitting"] = (f"the training loss has stalled (falling {drop:.1%} per epoch over the "
                                        f"last {w} epochs, t = {tstat:.1f}) at a poor fit: {why}")
        elif metric is not None and target is None and not poor:
            ev["limited_fit_note"] = why

    # not converged
    vtail = val[-w:]
    if np.isfinite(vtail).all() and w >= 3:
        vslope, vt = _trend(vtail)
        vlevel = float(np.mean(vtail))
        late = -vslope / vlevel if vlevel > 0 else 0.0
    else:
        late, vt = 0.0, 0.0
    ev["val_loss_drop_per_epoch_late"] = late
    if late >= t["converging"] and -vt >= t["trend_t"]:
        findings["not converged"] = (f"the validation loss still falls {late:.1%} per epoch over the last "
                                     f"{w} epochs (t = {-vt:.1f})")

    verdict = next((v for v in VERDICTS if v in findings), "healthy")
    if verdict == "healthy":
        findings["healthy"] = ("no sign of divergence, a stuck or unstable loss, overfitting, overconfidence, "
                               "underfitting or an unfinished run")
        if "limited_fit_note" in ev:
            findings["healthy"] += (f" ({ev['limited_fit_note']}: if the task allows more, "
                                    "pass target= to judge underfitting against it)")
    return Diagnosis(verdict, findings, ev, list(REMEDIES[verdict]))


# -- the command line -------------------------------------------------------

def main(argv=None):
    """`python -m dlgen.diagnose PATH [--json] [--metric NAME] [--classes C] [--target T]`.

    Prints the verdict, the findings and the remedies (or, with `--json`, the
    same as JSON). Exit status: 0 for a healthy run, 1 for any other verdict,
    2 for input that cannot be read (one line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m dlgen.diagnose",
        description="Read a run's learning curves (a CSVLogger file, a JSON history or a TensorBoard log "
                    "directory) and say what they show. Exit status 0: healthy; 1: another verdict; "
                    "2: unreadable input.")
    parser.add_argument("path", help="CSVLogger .csv, JSON history, or a TensorBoard log directory")
    parser.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    parser.add_argument("--metric", default="auto", help="metric column (default: the first accuracy-like one)")
    parser.add_argument("--classes", type=int, default=None, help="number of classes (chance level ln C)")
    parser.add_argument("--target", type=float, default=None, help="the training metric the task allows")
    parser.add_argument("--steps-per-epoch", type=int, default=None, help="for per-step logs with a step column")
    args = parser.parse_args(argv)
    try:
        d = diagnose(args.path, metric=args.metric, classes=args.classes, target=args.target,
                     steps_per_epoch=args.steps_per_epoch)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"dlgen.diagnose: {args.path}: {err}".splitlines()[0], file=sys.stderr)
        return 2
    print(json.dumps(d.to_dict(), indent=1) if args.json else str(d))
    return 0 if d.healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())

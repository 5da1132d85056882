"""Real training runs of known kinds, to measure the training doctor against.

Each *kind* is a recipe that produces one classic training pathology (or a
healthy run) on Fashion-MNIST, small enough for a laptop CPU: a few
seconds a run. Its label is the verdict `dlgen.diagnose` should give the
curves, fixed by how the run is made, never by what the doctor says (kind:
recipe; expected verdict):

- healthy: dropout, Adam at 1e-3, early stopping (patience 3); healthy.
- overfitting: a wide network fits 2,000 images of which 40% carry a
  wrong label (a random other class); overfitting.
- overconfident: a wide network fits 1,000 clean images for 40 epochs;
  overconfident.
- underfitting: a linear bottleneck of one unit, trained to its plateau;
  underfitting.
- not converged: plain SGD at a small rate, stopped after 12 epochs;
  not converged.
- stuck: six ReLU layers initialized with a standard deviation of 0.01
  (chapter 1); stuck.
- dying ReLU: hidden biases start at -3, so every unit outputs 0 for every
  image; stuck.
- vanishing gradients: ten sigmoid layers, plain SGD (chapter 2); stuck.
- diverging: SGD with momentum at a learning rate of 2 (tanh units);
  diverging.
- unstable: Adam at 1e-3, except that every fourth epoch runs at 30 times
  that rate, as warm restarts with too high a peak do; unstable.

The curves of a dying-ReLU network, a vanishing-gradient one and a badly
scaled one look alike (a loss that sits at ln 10), so all three should be
called stuck; `dlgen.preflight` tells them apart before training (dead
units, gradient flow, overfitting one batch).

`labelled_runs` trains them (through `run_sweep`, so each run is computed
once and then read from the results cache); `score` puts the doctor's
verdict beside each label; `confusion` and `precision_recall` tabulate it.
From a shell, `python -m dlgen.pathologies --seeds 3` prints both tables.
"""

import argparse
import functools
import os
import sys
import tempfile

import keras
import numpy as np
import pandas as pd

from ._checks import check_int
from .data import load_fashion_mnist, to_model_input, train_val_subsets
from .training import fit, make_optimizer

__all__ = ["KINDS", "confusion", "labelled_run", "labelled_runs", "pathology_model", "precision_recall", "score"]

#: kind -> the verdict its curves should get, in the order the tables show them
KINDS = {
    "healthy": "healthy",
    "overfitting": "overfitting",
    "overconfident": "overconfident",
    "underfitting": "underfitting",
    "not converged": "not converged",
    "stuck": "stuck",
    "dying ReLU": "stuck",
    "vanishing gradients": "stuck",
    "diverging": "diverging",
    "unstable": "unstable",
}

CLASSES = 10

# kind -> training set per class, epochs, batch size, optimizer (a name of `make_optimizer`), learning
# rate, label noise
_TRAINING = {
    "healthy": dict(per_class=300, epochs=40, batch_size=64, optimizer="Adam", learning_rate=1e-3),
    "overfitting": dict(per_class=200, epochs=40, batch_size=64, optimizer="Adam", learning_rate=1e-3,
                        label_noise=0.4),
    "overconfident": dict(per_class=100, epochs=40, batch_size=32, optimizer="Adam", learning_rate=1e-3),
    "underfitting": dict(per_class=200, epochs=30, batch_size=64, optimizer="Adam", learning_rate=3e-3),
    "not converged": dict(per_class=200, epochs=12, batch_size=128, optimizer="SGD", learning_rate=0.03),
    "stuck": dict(per_class=200, epochs=15, batch_size=64, optimizer="momentum", learning_rate=0.05),
    "dying ReLU": dict(per_class=200, epochs=15, batch_size=64, optimizer="Adam", learning_rate=1e-3),
    "vanishing gradients": dict(per_class=200, epochs=15, batch_size=64, optimizer="SGD", learning_rate=0.05),
    "diverging": dict(per_class=200, epochs=15, batch_size=64, optimizer="momentum", learning_rate=2.0),
    "unstable": dict(per_class=200, epochs=20, batch_size=64, optimizer="Adam", learning_rate=1e-3,
                     peak=3e-2, every=4),
}
VAL_PER_CLASS = 100


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}.")
    return kind


def _dense_stack(units, depth, activation, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 dropout=0.0, name="net"):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    for i in range(depth):
        x = keras.layers.Dense(units, activation=activation, kernel_initializer=kernel_initializer,
                               bias_initializer=bias_initializer, name=f"dense_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def pathology_model(kind):
    """The untrained network of one kind (seed it first with `dlgen.set_seed`).

    >>> pathology_model("vanishing gradients").name
    'vanishing_gradients'
    """
    _check_kind(kind)
    name = kind.lower().replace(" ", "_")
    if kind == "healthy":
        return _dense_stack(256, 2, "relu", dropout=0.3, name=name)
    if kind in ("overfitting", "overconfident"):
        return _dense_stack(512, 2, "relu", name=name)
    if kind == "underfitting":
        return _dense_stack(1, 1, None, name=name)
    if kind == "stuck":
        return _dense_stack(128, 6, "relu", kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                            name=name)
    if kind == "dying ReLU":
        return _dense_stack(128, 2, "relu", bias_initializer=keras.initializers.Constant(-3.0), name=name)
    if kind == "vanishing gradients":
        return _dense_stack(128, 10, "sigmoid", name=name)
    if kind == "diverging":
        return _dense_stack(128, 2, "tanh", name=name)
    return _dense_stack(128, 2, "relu", name=name)  # not converged, unstable


@functools.lru_cache(maxsize=1)
def _pool():
    (x, y), (x_test, y_test) = load_fashion_mnist()
    return x, y


def _noisy(y, share, rng):
    """`y` with `share` of its labels replaced by a random other class."""
    y = y.copy()
    flip = rng.random(len(y)) < share
    y[flip] = (y[flip] + rng.integers(1, CLASSES, flip.sum())) % CLASSES
    return y


def labelled_run(seed, kind):
    """Train one run of `kind` (see the module docstring) on a training subset drawn with `seed`.

    The training and validation subsets (100 validation images per class)
    are drawn from Fashion-MNIST's training split with `seed`. Seed the
    weights with `dlgen.set_seed(seed)` first (`run_sweep` does).

    Returns:
        A `RunRecord` whose `config` holds the kind, its expected verdict and the recipe.
    """
    _check_kind(kind)
    seed = check_int("seed", seed, 0)
    recipe = dict(_TRAINING[kind])
    x, y = _pool()
    (xt, yt), (xv, yv), _ = train_val_subsets(x, y, recipe.pop("per_class"), VAL_PER_CLASS, seed=seed)
    noise = recipe.pop("label_noise", 0.0)
    if noise:
        yt = _noisy(yt, noise, np.random.default_rng(seed))
    optimizer, rate = recipe.pop("optimizer"), recipe.pop("learning_rate")
    callbacks = []
    if kind == "healthy":
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=3))
    if kind == "unstable":
        peak, every = recipe.pop("peak"), recipe.pop("every")
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: peak if epoch % every == every - 1 else rate))
    record = fit(pathology_model(kind), (to_model_input(xt), yt), (to_model_input(xv), yv),
                 epochs=recipe.pop("epochs"), batch_size=recipe.pop("batch_size"),
                 optimizer=make_optimizer(optimizer, rate),  # "momentum": SGD with momentum 0.9
                 callbacks=callbacks, evaluate_train=False,
                 config={"kind": kind, "expected": KINDS[kind], "optimizer": optimizer,
                         "learning_rate": rate, "label_noise": noise})
    return record


def labelled_runs(seeds, kinds=None, cache=True, progress=False):
    """One run of every kind for every seed, through `dlgen.run_sweep` (cached).

    Args:
        seeds: list of non-negative seeds; each draws its own training subset and weights.
        kinds: the kinds to run (default: all of `KINDS`, in order).
        cache, progress: as for `run_sweep`.

    Returns:
        A list of `RunRecord` objects, named by kind.
    """
    from .cache import fingerprint
    from .sweep import run_sweep

    if isinstance(kinds, str):
        raise TypeError(f"kinds must be a list of kinds, e.g. [{kinds!r}], got the string {kinds!r}.")
    kinds = list(KINDS) if kinds is None else [_check_kind(k) for k in kinds]
    if not kinds:
        raise ValueError(f"kinds must name at least one of {list(KINDS)}, got [].")
    x, y = _pool()
    return run_sweep(labelled_run, {k: {"kind": k} for k in kinds}, seeds, data=fingerprint(x, y),
                     cache=cache, progress=progress)


def score(records, thresholds=None):
    """The doctor's verdict beside each run's label.

    Returns:
        A DataFrame with columns `kind`, `seed`, `expected`, `verdict`, `correct`.
    """
    from .diagnose import diagnose

    rows = []
    for r in records:
        kind = r.config.get("kind", r.name)
        _check_kind(kind)
        verdict = diagnose(r, classes=CLASSES, thresholds=thresholds).verdict
        rows.append({"kind": kind, "seed": r.seed, "expected": KINDS[kind], "verdict": verdict,
                     "correct": verdict == KINDS[kind]})
    return pd.DataFrame(rows, columns=["kind", "seed", "expected", "verdict", "correct"])


def _check_scored(scored, columns):
    from .diagnose import VERDICTS

    if not isinstance(scored, pd.DataFrame) or not set(columns) <= set(scored.columns):
        raise TypeError(f"expected the DataFrame of `score` with columns {list(columns)}, got "
                        f"{type(scored).__name__}" + (f" with columns {list(scored.columns)}"
                                                       if isinstance(scored, pd.DataFrame) else "") + ".")
    if "kind" in columns:
        unknown = sorted(set(scored["kind"]) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; the kinds are {list(KINDS)}.")
    for col in set(columns) & {"expected", "verdict"}:
        unknown = sorted(set(scored[col]) - set(VERDICTS))
        if unknown:
            raise ValueError(f"unknown verdicts {unknown} in column {col!r}; the verdicts are {list(VERDICTS)}.")


def confusion(scored):
    """Runs of each kind (rows, in `KINDS`'s order) by the doctor's verdict (columns, every verdict, the
    expected ones in the same order as the rows).

    >>> s = pd.DataFrame({"kind": ["stuck", "stuck"], "verdict": ["stuck", "underfitting"]})
    >>> confusion(s).loc["stuck", ["stuck", "underfitting", "healthy"]].tolist()
    [1, 1, 0]
    """
    from .diagnose import VERDICTS

    _check_scored(scored, ("kind", "verdict"))
    kinds = [k for k in KINDS if k in set(scored["kind"])]
    # the expected verdicts first, in the order of the kinds: each row's right cell is where it expects
    columns = list(dict.fromkeys(list(KINDS.values()) + list(VERDICTS)))
    table = pd.crosstab(scored["kind"], scored["verdict"]).reindex(index=kinds, columns=columns, fill_value=0)
    table.index.name, table.columns.name = "kind", "verdict"
    return table.fillna(0).astype(int)


def precision_recall(scored):
    """Per verdict: how many runs should get it (`support`), how many got it, precision and recall.

    Precision is undefined (NaN) for a verdict the doctor never gave.

    >>> s = pd.DataFrame({"expected": ["stuck", "stuck", "healthy"], "verdict": ["stuck", "healthy", "healthy"]})
    >>> precision_recall(s).loc[["stuck", "healthy"], ["support", "given", "precision", "recall"]].to_dict("index")
    {'stuck': {'support': 2, 'given': 1, 'precision': 1.0, 'recall': 0.5}, 'healthy': {'support': 1, 'given': 2, 'precision': 0.5, 'recall': 1.0}}
    """
    from .diagnose import VERDICTS

    _check_scored(scored, ("expected", "verdict"))
    rows = []
    for v in VERDICTS:
        truth, said = scored["expected"] == v, scored["verdict"] == v
        hits = int((truth & said).sum())
        rows.append({"verdict": v, "support": int(truth.sum()), "given": int(said.sum()),
                     "precision": hits / said.sum() if said.any() else np.nan,
                     "recall": hits / truth.sum() if truth.any() else np.nan})
    return pd.DataFrame(rows).set_index("verdict")


def main(argv=None):
    """`python -m dlgen.pathologies [--seeds N] [--base-seed S] [--kinds ...] [--csv PATH]`."""
    parser = argparse.ArgumentParser(prog="python -m dlgen.pathologies",
                                     description="Train labelled runs of each kind and score the training doctor.")
    parser.add_argument("--seeds", type=int, default=3, help="runs per kind (default 3)")
    parser.add_argument("--base-seed", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--kinds", nargs="+", metavar="KIND", help=f"a subset of {list(KINDS)}")
    parser.add_argument("--csv", metavar="PATH", help="also write one row per run to this CSV file")
    args = parser.parse_args(argv)
    if args.csv and not os.path.isdir(os.path.dirname(os.path.abspath(args.csv))):
        print(f"python -m dlgen.pathologies: --csv {args.csv!r}: its folder does not exist.", file=sys.stderr)
        return 2
    try:
        seeds = list(range(args.base_seed, args.base_seed + check_int("--seeds", args.seeds, 1)))
        check_int("--base-seed", args.base_seed, 0)
        # the package's own module, not __main__: its functions are keyed as dlgen's code
        import importlib

        records = importlib.import_module("dlgen.pathologies").labelled_runs(seeds, kinds=args.kinds,
                                                                              progress=True)
    except (ValueError, TypeError) as err:
        print(f"python -m dlgen.pathologies: {err}", file=sys.stderr)
        return 2
    scored = score(records)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(confusion(scored).to_string())
        print()
        print(precision_recall(scored).round(2).to_string())
    print(f"\n{scored['correct'].sum()} of {len(scored)} runs right ({scored['correct'].mean():.0%}).")
    if args.csv:
        folder = os.path.dirname(os.path.abspath(args.csv))
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False, newline="") as f:
            scored.to_csv(f, index=False)
        os.replace(f.name, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run configurations over seeds, with an on-disk cache of results.

A sweep calls `fn(seed=..., **config)` for every configuration and seed.
`fn` builds a model, trains it (usually with `dlgen.fit`) and returns a
`RunRecord`. Results are cached as JSON files keyed by the function (its
name and source), the configuration, the seed, a fingerprint of the data,
the source of `dlgen` itself, and the versions of Keras and the backend
library. Entries are written
atomically; an entry that does not parse or fails its checksum is reported,
removed and recomputed, never trusted.
"""

import functools
import hashlib
import inspect
import json
import os
import pathlib
import tempfile
import warnings

import numpy as np
import pandas as pd

from ._checks import check_int
from .config import set_seed
from .training import RunRecord

__all__ = [
    "ResultsCache",
    "default_cache_dir",
    "fingerprint",
    "good_range",
    "run_sweep",
    "records_frame",
    "selection_optimism",
    "summarize",
    "time_to_target",
]

_FORMAT = 1


def default_cache_dir():
    """Folder of the results cache: `$DLGEN_CACHE`, else `~/.cache/dlgen`.

    Example:

    >>> import os
    >>> saved = os.environ.get("DLGEN_CACHE")
    >>> os.environ["DLGEN_CACHE"] = "/tmp/book-cache"
    >>> str(default_cache_dir())
    '/tmp/book-cache'
    >>> _ = os.environ.pop("DLGEN_CACHE") if saved is None else os.environ.update(DLGEN_CACHE=saved)
    """
    return pathlib.Path(os.environ.get("DLGEN_CACHE") or "~/.cache/dlgen").expanduser()


def fingerprint(*arrays):
    """A short SHA-256 fingerprint of arrays (shape, dtype and content).

    Example:

    >>> fingerprint(np.zeros(3)) == fingerprint(np.zeros(3))
    True
    >>> fingerprint(np.zeros(3)) == fingerprint(np.ones(3))
    False
    """
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _canonical(obj):
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except TypeError as e:
        raise ValueError(f"configurations must be JSON-serializable: {e}") from e


def _digest(obj):
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


class ResultsCache:
    """A folder of JSON result files, one per (function, config, seed, data).

    Args:
        directory: the folder; created on first write. Defaults to
            `default_cache_dir()`.

    Example:

    >>> cache = ResultsCache(tmp_dir)
    >>> key = cache.key({"lr": 0.1, "seed": 0})
    >>> cache.get(key) is None
    True
    >>> cache.put(key, {"answer": 42})
    >>> cache.get(key)
    {'answer': 42}
    """

    def __init__(self, directory=None):
        self.directory = pathlib.Path(directory) if directory is not None else default_cache_dir()

    def key(self, payload):
        """The cache key of a JSON-serializable payload."""
        return _digest(payload)[:32]

    def path(self, key):
        return self.directory / f"{key}.json"

    def get(self, key):
        """The stored value for `key`, or `None` if absent or corrupt.

        A corrupt entry (unreadable JSON, wrong key, checksum mismatch) is
        reported with a warning and removed.
        """
        path = self.path(key)
        if not path.exists():
            return None
        try:
            entry = json.loads(path.read_text())
            ok = (
                isinstance(entry, dict)
                and entry.get("format") == _FORMAT
                and entry.get("key") == key
                and entry.get("sha256") == _digest(entry.get("value"))
            )
        except (OSError, ValueError, UnicodeDecodeError):
            ok = False
        if not ok:
            warnings.warn(f"corrupt results-cache entry {path} removed; it will be recomputed.")
            path.unlink(missing_ok=True)
            return None
        return entry["value"]

    def put(self, key, value):
        """Store a JSON-serializable value atomically (temp file, then rename)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = {"format": _FORMAT, "key": key, "sha256": _digest(value), "value": value}
        text = _canonical(entry)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self):
        """Remove every entry."""
        for p in self.directory.glob("*.json"):
            p.unlink()


def _fn_identity(fn):
    if isinstance(fn, functools.partial):
        ident, source = _fn_identity(fn.func)
        bound = _canonical({"args": list(fn.args), "keywords": fn.keywords})
        return f"{ident}|partial:{bound}", source
    # A callable object is identified by its class (its repr holds an address).
    target = fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn)
    ident = f"{target.__module__}.{target.__qualname__}"
    try:
        source = inspect.getsource(target)
    except (OSError, TypeError):
        source = ""
    return ident, hashlib.sha256(source.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _package_source_digest():
    # Any change to dlgen's code (training loop, models, data) changes the key.
    h = hashlib.sha256()
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _versions():
    import importlib.metadata

    import keras

    from . import __version__

    backend = keras.backend.backend()
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
    try:
        backend_version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        try:
            backend_version = importlib.metadata.version(f"{package}-cpu")
        except importlib.metadata.PackageNotFoundError:
            backend_version = "unknown"
    return {
        "dlgen": __version__,
        "dlgen_source": _package_source_digest(),
        "keras": keras.__version__,
        "backend": f"{backend} {backend_version}",
    }


def run_sweep(fn, configs, seeds, *, data=None, cache=True, progress=True, deterministic=True):
    """Run every configuration with every seed, reusing cached results.

    Before each run the seed is set with `dlgen.set_seed`, so the model's
    initial weights, the data order and dropout masks depend on it.

    Args:
        fn: `fn(seed=..., **config) -> RunRecord`.
        configs: `{name: config_dict}`; names label the rows of the tables.
        seeds: iterable of integer seeds.
        data: a fingerprint of the data the runs use (see `fingerprint`),
            part of the cache key. Data that `fn` reads from outside (e.g.
            notebook globals) is invisible to the cache otherwise, so a
            warning is given when `data` is `None` and caching is on.
        cache: `True` for the default `ResultsCache`, a `ResultsCache`, or
            `False` to always compute.
        progress: show a progress bar over the runs.
        deterministic: passed to `set_seed`.

    Returns:
        A list of `RunRecord` objects, configurations in the given order, then seeds.

    Example:

    >>> def run(seed, width):
    ...     ...  # build, dlgen.fit, return the record
    >>> records = run_sweep(run, {"narrow": {"width": 8}}, seeds=[0, 1])  # doctest: +SKIP
    """
    if not isinstance(configs, dict) or not configs:
        raise ValueError("configs must be a non-empty dict {name: config}.")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty list of non-negative integers, got [].")
    seeds = [check_int("each seed", s, 0) for s in seeds]
    if cache is True:
        cache = ResultsCache()
    if cache and data is None:
        warnings.warn("run_sweep(data=None): the data is not part of the cache key; "
                      "pass data=dlgen.fingerprint(...) so that new data is not served old results.")
    ident, source = _fn_identity(fn)
    versions = _versions()
    jobs = [(name, cfg, s) for name, cfg in configs.items() for s in seeds]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=getattr(fn, "__name__", "runs"), leave=False)
    records = []
    try:
        for name, cfg, seed in jobs:
            payload = {
                "fn": ident,
                "source": source,
                "config": cfg,
                "seed": seed,
                "data": data,
                **versions,
            }
            key = cache.key(payload) if cache else None
            stored = cache.get(key) if cache else None
            if stored is not None:
                record = RunRecord.from_dict(stored)
            else:
                set_seed(seed, deterministic=deterministic)
                record = fn(seed=seed, **cfg)
                if not isinstance(record, RunRecord):
                    raise TypeError(
                        f"{ident} returned {type(record).__name__}; it must return a RunRecord."
                    )
                record.seed = seed
                if cache:
                    cache.put(key, record.to_dict())
            record.name = name
            record.seed = seed
            records.append(record)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return records


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


def time_to_target(record, target, steps_per_epoch, metric="val_accuracy"):
    """When a run first reached `target` on `metric`: epochs, optimizer steps and seconds.

    Args:
        record: a `dlgen.RunRecord` (its history has one row per epoch and,
            from `dlgen.fit`, an `epoch_seconds` column) or a DataFrame of the
            same form.
        target: the value to reach (reached means `>=`; for a loss, pass
            `metric="val_loss"` and the target is reached when `<=`).
        steps_per_epoch: optimizer steps per epoch (`ceil(n_train / batch_size)`),
            a positive integer.
        metric: the history column to watch.

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
    values = h[metric].to_numpy(float)
    hit = values <= target if metric.endswith("loss") else values >= target
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
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(splits)):
        order = rng.permutation(n)
        chosen, report = order[:selection_size], order[selection_size:]
        scores = correct[:, chosen].mean(axis=1)
        best = int(scores.argmax())
        rows.append({"best on selection": float(scores[best]),
                     "same candidate on report": float(correct[best, report].mean())})
    frame = pd.DataFrame(rows)
    frame["optimism"] = frame["best on selection"] - frame["same candidate on report"]
    return frame

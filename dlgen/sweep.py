"""Run configurations over seeds, each run computed once and then served from the results cache.

A sweep calls `fn(seed=..., **config)` for every configuration and seed.
`fn` builds a model, trains it (usually with `dlgen.fit`) and returns a
`RunRecord`. The key of a run (see `dlgen.cache`) holds the function's code
and the values of everything it reads (globals, closure variables, the
helpers it calls and what they read, a callable object's state), the
configuration, the seed, `deterministic`, the `data` fingerprint, dlgen's
training code and the versions of Keras and the backend. Change any of them
and the run is computed again; leave them alone and it is served from the cache.
"""

from ._checks import check_int
from .cache import as_cache, describe, environment, to_jsonable
from .config import set_seed
from .training import RunRecord

__all__ = ["run_sweep"]


def _check_seeds(seeds):
    if isinstance(seeds, (str, bytes, dict)) or not hasattr(seeds, "__iter__"):
        raise TypeError(f"seeds must be a list of non-negative integers, e.g. [0, 1, 2], got "
                        f"{type(seeds).__name__} {seeds!r}" + (f" (for {seeds} seeds, pass "
                        f"list(range({seeds})))" if isinstance(seeds, int) and not isinstance(seeds, bool)
                        and seeds > 0 else "") + ".")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must be a non-empty list of non-negative integers, got [].")
    return [check_int("each seed", s, 0) for s in seeds]


def _check_configs(configs):
    if not isinstance(configs, dict) or not configs:
        raise ValueError(f"configs must be a non-empty dict {{name: config}}, got {configs!r}.")
    out = {}
    for name, cfg in configs.items():
        if not isinstance(name, str):
            raise TypeError(f"configuration names must be strings, got {name!r}.")
        if not isinstance(cfg, dict) or not all(isinstance(k, str) for k in cfg):
            raise TypeError(f"configuration {name!r} must be a dict of keyword arguments, got {cfg!r}.")
        # Checked before any training: a run whose settings cannot be stored is refused now.
        to_jsonable(cfg, f"configuration {name!r}")
        out[name] = cfg
    return out


def run_sweep(fn, configs, seeds, *, data=None, cache=True, progress=True, deterministic=True):
    """Run every configuration with every seed, reusing cached results.

    Before each run the seed is set with `dlgen.set_seed`, so the model's
    initial weights, the data order and dropout masks depend on it.

    Args:
        fn: `fn(seed=..., **config) -> RunRecord`: a function, a
            `functools.partial` or a callable object.
        configs: `{name: config_dict}`; names label the rows of the tables.
            Values must be JSON-serializable (NumPy scalars are converted);
            this is checked before anything trains.
        seeds: a list of non-negative integer seeds.
        data: the data the runs use: arrays (fingerprinted by content) or a
            fingerprint (see `fingerprint`). Arrays `fn` reads as globals
            are in the key already; `data` is for what it reaches otherwise.
        cache: `True` for the default `ResultsCache`, a `ResultsCache`, or
            `False` to always compute.
        progress: show a progress bar over the runs.
        deterministic: passed to `set_seed` (part of the key).

    Returns:
        A list of `RunRecord` objects, configurations in the given order, then seeds.

    Raises:
        TypeError: `fn` reads a value the cache cannot key (the message
            names it), a configuration that is not JSON-serializable, or a
            bad `seeds` or `cache`.

    Example:

    >>> def run(seed, width):
    ...     ...  # build, dlgen.fit, return the record
    >>> records = run_sweep(run, {"narrow": {"width": 8}}, seeds=[0, 1])  # doctest: +SKIP
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable fn(seed=..., **config) returning a RunRecord, got {fn!r}.")
    configs = _check_configs(configs)
    seeds = _check_seeds(seeds)
    cache = as_cache(cache)
    if not isinstance(deterministic, bool):
        raise TypeError(f"deterministic must be True or False, got {deterministic!r}.")
    ident = getattr(fn, "__qualname__", type(fn).__qualname__)
    base = None
    if cache is not None:
        base = {"kind": "run", "fn": describe(fn), "data": describe(data), "deterministic": deterministic,
                "environment": environment()}
    jobs = [(name, cfg, s) for name, cfg in configs.items() for s in seeds]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=getattr(fn, "__name__", "runs"), leave=False)

    def compute(cfg, seed):
        set_seed(seed, deterministic=deterministic)
        record = fn(seed=seed, **cfg)
        if not isinstance(record, RunRecord):
            raise TypeError(f"{ident} returned {type(record).__name__}; it must return a RunRecord.")
        record.seed = seed
        return record

    records = []
    try:
        for name, cfg, seed in jobs:
            if cache is None:
                record = compute(cfg, seed)
            else:
                key = cache.key({**base, "config": to_jsonable(cfg), "seed": seed})
                # One process computes a key at a time; another waiting on it reads the entry.
                with cache.lock(key):
                    record = cache.get(key, validate=RunRecord.from_dict)
                    if record is None:
                        record = compute(cfg, seed)
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


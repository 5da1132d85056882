"""Benchmark the chapters: wall time and peak memory, quick and full mode.

Usage::

    python -m dlgen.bench notebooks/06_dropout.ipynb [more.ipynb ...]
        [--modes quick,full] [--backends tensorflow,jax] [--python jax=.venv-jax/bin/python]
        [--warm] [--csv _build/bench.csv]
    python -m dlgen.bench --overhead [--repeats 3]
    python -m dlgen.bench --profile notebooks/06_dropout.ipynb [--modes quick]

Each chapter runs under papermill in a fresh process, with a fresh, empty
results cache (a cold run), once per mode. Peak memory is the largest
resident set of the kernel process. With `--warm`, each chapter also runs a
second time on the cache the cold run filled, which shows what the results
cache saves. With `--backends`, each chapter runs under each Keras backend
(`--python backend=path` names the interpreter of an environment that has
it), and the table gets a JAX / TensorFlow ratio per mode.

With `--overhead`, the book's typical run (an MLP of two layers of 256
units, 1,000 images, batch 64, 40 epochs, validation after every epoch,
then the test and training sets evaluated) is done with a plain
`model.compile` / `model.fit` / `model.evaluate` on NumPy arrays and with
`dlgen.fit`, alternately, and the medians are compared.

With `--profile`, a chapter runs cell by cell in an IPython shell in a fresh
process while a sampler looks at its stack every few milliseconds, and each
sample is put in the first category its stack matches (tracing and
compiling, per-epoch validation, training steps, model construction, ...):
where the chapter's time goes. Figures are printed, never asserted.
"""

import argparse
import io
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd

__all__ = ["main", "overhead", "per_backend", "profile"]


def _peak_children_mb():
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def _run_here(path, out):
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), cwd=str(pathlib.Path(path).parent),
                               progress_bar=False, log_output=False)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_children_mb()}


def _run_child(path, mode, cache_dir, backend=None, python=None):
    env = dict(os.environ, DLGEN_QUICK="1" if mode == "quick" else "0", DLGEN_CACHE=str(cache_dir))
    if backend:
        env["KERAS_BACKEND"] = backend
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "out.ipynb"
        proc = subprocess.run(
            [python or sys.executable, "-m", "dlgen.bench", "--one", str(path), str(out)],
            env=env, capture_output=True, text=True,
        )
    if proc.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"),
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def overhead(repeats=3, epochs=40, per_class=100, batch_size=64, seed=0):
    """Median seconds of plain Keras and of `dlgen.fit` on the book's typical run.

    Both compile an MLP (2 x 256 units), train it for `epochs` epochs on
    `per_class` Fashion-MNIST images of each class (1,000 by default) with
    as many validation images evaluated after each epoch, then evaluate it
    on the test set and the training set. Plain Keras passes NumPy arrays to
    `model.fit(validation_data=...)` and `model.evaluate`. Runs alternate, so
    that a slow spell of the machine hits both.

    Returns:
        A dict with `keras_s`, `dlgen_s` (medians), `ratio` (dlgen / Keras),
        `spread` (run-to-run spread of plain Keras, a fraction) and the final
        validation accuracy of each (`keras_val_accuracy`, `dlgen_val_accuracy`),
        which agree: the same seed trains the same network either way.
    """
    import statistics

    import keras
    import numpy as np

    from .config import set_seed
    from .data import load_fashion_mnist, to_model_input, train_val_subsets
    from .models import build_mlp
    from .training import fit

    (x_pool, y_pool), (x_test, y_test) = load_fashion_mnist()
    (x_tr, y_tr), (x_va, y_va), _ = train_val_subsets(x_pool, y_pool, per_class, per_class, seed=seed)
    train, val, test = (to_model_input(x_tr), y_tr), (to_model_input(x_va), y_va), (to_model_input(x_test), y_test)
    accuracy = {}

    def plain():
        model = build_mlp()
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        h = model.fit(*train, validation_data=val, epochs=epochs, batch_size=batch_size, verbose=0)
        model.evaluate(*test, verbose=0)
        model.evaluate(*train, verbose=0)
        accuracy["keras"] = float(h.history["val_accuracy"][-1])

    def with_dlgen():
        rec = fit(build_mlp(), train, validation=val, test=test, epochs=epochs, batch_size=batch_size)
        accuracy["dlgen"] = rec.final("val_accuracy")

    times = {"keras": [], "dlgen": []}
    for _ in range(repeats + 1):  # the first round warms up both paths, and is dropped
        for name, fn in (("keras", plain), ("dlgen", with_dlgen)):
            set_seed(seed)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    keras_s, dlgen_s = (statistics.median(times[k][1:]) for k in ("keras", "dlgen"))
    return {"keras_s": keras_s, "dlgen_s": dlgen_s, "ratio": dlgen_s / keras_s,
            "spread": float(np.std(times["keras"][1:]) / keras_s),
            "keras_val_accuracy": accuracy["keras"], "dlgen_val_accuracy": accuracy["dlgen"]}


# Where a chapter's time goes: each sampled stack goes to the first category
# (in this order) with a frame whose file path contains one of the fragments
# and, when a function name is given, runs that function.
PROFILE_CATEGORIES = (
    ("tracing and compiling", [("tensorflow/python/eager/polymorphic_function/tracing_compilation", "_create_concrete_function"),
                               ("tensorflow/python/data/ops/structured_function", None),
                               ("jax/_src/interpreters/pxla", None), ("jax/_src/compiler", None),
                               ("jax/_src/interpreters/partial_eval", None)]),
    ("HeldOutEvaluation", [("dlgen/callbacks", "on_epoch_end")]),
    ("validation after each epoch", [("dlgen/training", "on_epoch_end"),
                                     ("keras/src/backend/", "evaluate")]),
    ("test and training sets after training", [("dlgen/training", "evaluate_on")]),
    ("training steps (model.fit)", [("keras/src/backend/", "fit")]),
    ("other evaluation and prediction", [("dlgen/evaluation", None), ("keras/src/backend/", "predict")]),
    ("model construction and compile", [("dlgen/models", None), ("keras/src/models/", None),
                                        ("keras/src/layers/", None), ("keras/src/trainers/trainer", "compile")]),
    ("run notebooks (other kernels)", [("papermill/", None), ("concurrent/futures", "result")]),
    ("results cache and keys", [("dlgen/cache", None)]),
    ("plotting", [("matplotlib/", None), ("dlgen/plots", None)]),
    ("data", [("dlgen/data", None), ("dlgen/augment", None)]),
)


def _category(frames):
    for name, rules in PROFILE_CATEGORIES:
        for path, func in rules:
            if any(path in f.f_code.co_filename.replace("\\", "/") and (func is None or f.f_code.co_name == func)
                   for f in frames):
                return name
    return "other (NumPy, pandas, the notebook's own code)"


def _profile_here(path, interval=0.005):
    """Run a notebook's code cells in an IPython shell, sampling the stack; print the JSON of seconds per category."""
    import threading

    import matplotlib
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = nbformat.read(path, as_version=4)
    shell = InteractiveShell.instance()
    main = threading.main_thread().ident
    seconds, done = {}, threading.Event()

    def sample():
        last = time.perf_counter()
        while not done.wait(interval):
            now = time.perf_counter()
            frame, frames = sys._current_frames().get(main), []
            while frame is not None:
                frames.append(frame)
                frame = frame.f_back
            cat = _category(frames)
            seconds[cat] = seconds.get(cat, 0.0) + now - last
            last = now

    os.chdir(pathlib.Path(path).parent)
    sampler = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    sampler.start()
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            result = shell.run_cell(cell.source, silent=True)
            if not result.success:
                raise RuntimeError(f"a cell of {path} failed: {result.error_in_exec or result.error_before_exec!r}")
            for num in plt.get_fignums():  # what the inline backend does at the end of a cell
                plt.figure(num).savefig(io.BytesIO(), format="png")
            plt.close("all")
    finally:
        done.set()
        sampler.join()
    return {"seconds": time.perf_counter() - start, "categories": seconds}


def profile(path, mode="quick", python=None, backend=None):
    """Seconds per category of one chapter, run cold in a fresh process (see `PROFILE_CATEGORIES`).

    Returns:
        A `pandas.DataFrame` with one row per category: `seconds` and `share`
        of the chapter's wall time, largest first.
    """
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, DLGEN_QUICK="1" if mode == "quick" else "0", DLGEN_CACHE=cache)
        if backend:
            env["KERAS_BACKEND"] = backend
        proc = subprocess.run([python or sys.executable, "-m", "dlgen.bench", "--profile-one", str(path)],
                              env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"profiling {path} failed: {proc.stderr.strip()[-2000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    table = pd.Series(res["categories"], name="seconds").sort_values(ascending=False).to_frame()
    table["share"] = table["seconds"] / res["seconds"]
    table.index.name = "category"
    table.attrs["seconds"] = res["seconds"]
    return table


def _backend_pythons(items):
    out = {}
    for item in items:
        backend, sep, exe = item.partition("=")
        if not sep or not exe:
            raise ValueError(f"--python takes backend=path, e.g. jax=.venv-jax/bin/python; got {item!r}.")
        out[backend] = exe
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dlgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--overhead", action="store_true",
                        help="time dlgen.fit against plain model.fit on the book's typical run")
    parser.add_argument("--profile", action="store_true", help="where each chapter's time goes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="quick,full")
    parser.add_argument("--backends", default="", help="Keras backends to run each chapter under, "
                        "e.g. tensorflow,jax (default: the current one)")
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH",
                        help="the interpreter for a backend, e.g. jax=.venv-jax/bin/python")
    parser.add_argument("--warm", action="store_true", help="also time a rerun on a filled cache")
    parser.add_argument("--csv", default="_build/bench.csv")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: run one notebook, print JSON
        print(json.dumps(_run_here(args.notebooks[0], args.notebooks[1])))
        return 0
    if args.profile_one:  # child process: profile one notebook, print JSON
        print(json.dumps(_profile_here(args.notebooks[0])))
        return 0
    try:
        pythons = _backend_pythons(args.python)
    except ValueError as err:
        parser.error(str(err))
    backends = [b.strip() for b in args.backends.split(",") if b.strip()] or [None]
    bad = [b for b in backends if b not in (None, "tensorflow", "jax", "torch")]
    if bad:
        parser.error(f"unknown backend(s) {bad}; allowed: tensorflow, jax, torch")
    modes = [m.strip() for m in args.modes.split(",")]
    bad = [m for m in modes if m not in ("quick", "full")]
    if bad:
        parser.error(f"unknown mode(s) {bad}; allowed: quick, full")
    if args.overhead:
        if args.repeats < 1:
            parser.error(f"--repeats must be at least 1, got {args.repeats}")
        import keras

        res = overhead(repeats=args.repeats)
        print(f"the typical run (MLP 2 x 256, 1,000 images, batch 64, 40 epochs, validation every epoch), "
              f"{keras.backend.backend()}: plain model.fit {res['keras_s']:.2f} s, dlgen.fit {res['dlgen_s']:.2f} s "
              f"(medians of {args.repeats}): dlgen.fit / model.fit = {res['ratio']:.2f} "
              f"(run-to-run spread {100 * res['spread']:.1f}%; final validation accuracy "
              f"{res['keras_val_accuracy']:.4f} and {res['dlgen_val_accuracy']:.4f}; machine: {os.cpu_count()} CPUs)",
              flush=True)
        if not args.notebooks:
            return 0
    if not args.notebooks:
        parser.error("give notebooks to time, or --overhead")

    if args.profile:
        for nb in args.notebooks:
            for backend in backends:
                for mode in modes:
                    table = profile(nb, mode, python=pythons.get(backend), backend=backend)
                    print(f"\n{pathlib.Path(nb).name}, {mode}, {backend or 'current backend'}: "
                          f"{table.attrs['seconds']:.1f} s")
                    print(table.to_string(formatters={"seconds": "{:.1f}".format, "share": "{:.0%}".format}))
        return 0

    rows = []
    for nb in args.notebooks:
        for backend in backends:
            for mode in modes:
                with tempfile.TemporaryDirectory() as cache:
                    runs = [("cold", _run_child(nb, mode, cache, backend, pythons.get(backend)))]
                    if args.warm:
                        runs.append(("warm", _run_child(nb, mode, cache, backend, pythons.get(backend))))
                for cache_state, res in runs:
                    row = {"notebook": pathlib.Path(nb).name, "backend": backend or "current", "mode": mode,
                           "cache": cache_state, "seconds": round(res["seconds"], 1),
                           "peak_mb": round(res["peak_mb"], 0)}
                    if "error" in res:
                        row["error"] = res["error"]
                    rows.append(row)
                    print(f"{row['notebook']:32s} {row['backend']:10s} {mode:5s} {cache_state:4s} "
                          f"{row['seconds']:8.1f} s  {row['peak_mb']:6.0f} MB  {row.get('error', '')}",
                          flush=True)
    table = pd.DataFrame(rows)
    pathlib.Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    print()
    print(table.to_string(index=False))
    if {"tensorflow", "jax"} <= set(table["backend"]):
        print("\nseconds per chapter, cold, and the ratio JAX / TensorFlow:")
        print(per_backend(table).to_string())
    print(f"\n(written to {args.csv}; machine: {os.cpu_count()} CPUs)")
    return 1 if "error" in table.columns and table["error"].notna().any() else 0


def per_backend(table):
    """One row per chapter: cold seconds under each backend and mode, and JAX / TensorFlow per mode.

    Example:

    >>> import pandas as pd
    >>> t = pd.DataFrame({"notebook": ["a"] * 2, "backend": ["tensorflow", "jax"], "mode": ["quick"] * 2,
    ...                   "cache": ["cold"] * 2, "seconds": [10.0, 4.0]})
    >>> per_backend(t).round(2).to_dict("records")
    [{'quick tensorflow': 10.0, 'quick jax': 4.0, 'quick jax/tf': 0.4}]
    """
    cold = table[table["cache"] == "cold"]
    seconds = cold.set_index(["notebook", "mode", "backend"])["seconds"]
    out = {}
    for mode in dict.fromkeys(cold["mode"]):
        # A chapter that failed under a backend has no time there (NaN), and no ratio.
        tf, jax = (seconds.xs((mode, b), level=("mode", "backend")) if (mode, b) in seconds.index.droplevel(0)
                   else pd.Series(float("nan"), index=seconds.index.unique(0)) for b in ("tensorflow", "jax"))
        out[f"{mode} tensorflow"], out[f"{mode} jax"] = tf, jax.reindex(tf.index)
        out[f"{mode} jax/tf"] = out[f"{mode} jax"] / tf
    return pd.DataFrame(out)


if __name__ == "__main__":
    sys.exit(main())

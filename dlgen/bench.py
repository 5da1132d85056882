"""Benchmark the chapters: wall time and peak memory, quick and full mode.

Usage::

    python -m dlgen.bench notebooks/06_dropout.ipynb [more.ipynb ...]
        [--modes quick,full] [--warm] [--csv _build/bench.csv]
    python -m dlgen.bench --overhead [--repeats 5]

Each chapter runs under papermill in a fresh process, with a fresh, empty
results cache (a cold run), once per mode. Peak memory is the largest
resident set of the kernel process. With `--warm`, each chapter also runs a
second time on the cache the cold run filled, which shows what the results
cache saves. With `--overhead`, the same model is trained on the same data
with a plain `model.compile` / `model.fit` / `model.evaluate` and with
`dlgen.fit` (which does the same work and builds its record), alternately,
and the medians are compared: what dlgen costs on top of Keras. Figures are
printed, never asserted.
"""

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

__all__ = ["main"]


def _peak_children_mb():
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def _run_here(path, out):
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(out), cwd=str(pathlib.Path(path).parent),
                               progress_bar=False, log_output=False)
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_children_mb()}


def _run_child(path, mode, cache_dir):
    env = dict(os.environ, DLGEN_QUICK="1" if mode == "quick" else "0", DLGEN_CACHE=str(cache_dir))
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "out.ipynb"
        proc = subprocess.run(
            [sys.executable, "-m", "dlgen.bench", "--one", str(path), str(out)],
            env=env, capture_output=True, text=True,
        )
    if proc.returncode != 0:
        return {"seconds": float("nan"), "peak_mb": float("nan"),
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def overhead(repeats=5, epochs=5, train_size=5000, seed=0):
    """Median seconds of plain Keras and of `dlgen.fit` on the same work.

    Both compile an MLP (2 x 256 units), train it for `epochs` epochs on
    `train_size` Fashion-MNIST images with validation after each epoch, and
    evaluate it on the test set and the training set. Runs alternate, so that
    a slow spell of the machine hits both.

    Returns:
        A dict with `keras_s`, `dlgen_s` (medians) and `overhead` (a fraction).
    """
    import statistics

    import keras
    import numpy as np

    from .config import set_seed
    from .data import load_fashion_mnist, to_model_input, train_val_subsets
    from .models import build_mlp
    from .training import fit

    (x_pool, y_pool), (x_test, y_test) = load_fashion_mnist()
    (x_tr, y_tr), (x_va, y_va), _ = train_val_subsets(x_pool, y_pool, train_size // 10, 100, seed=seed)
    train, val, test = (to_model_input(x_tr), y_tr), (to_model_input(x_va), y_va), (to_model_input(x_test), y_test)

    def plain():
        model = build_mlp()
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(*train, validation_data=val, epochs=epochs, batch_size=128, validation_batch_size=256, verbose=0)
        model.evaluate(*test, batch_size=256, verbose=0)
        model.evaluate(*train, batch_size=256, verbose=0)

    def with_dlgen():
        fit(build_mlp(), train, validation=val, test=test, epochs=epochs, batch_size=128)

    times = {"keras": [], "dlgen": []}
    for _ in range(repeats + 1):  # the first round warms up both paths, and is dropped
        for name, fn in (("keras", plain), ("dlgen", with_dlgen)):
            set_seed(seed)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    keras_s, dlgen_s = (statistics.median(times[k][1:]) for k in ("keras", "dlgen"))
    return {"keras_s": keras_s, "dlgen_s": dlgen_s, "overhead": dlgen_s / keras_s - 1,
            "spread": float(np.std(times["keras"][1:]) / keras_s)}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dlgen.bench", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*")
    parser.add_argument("--overhead", action="store_true",
                        help="time dlgen.fit against plain model.fit on the same work")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--modes", default="quick,full")
    parser.add_argument("--warm", action="store_true", help="also time a rerun on a filled cache")
    parser.add_argument("--csv", default="_build/bench.csv")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # child process: run one notebook, print JSON
        print(json.dumps(_run_here(args.notebooks[0], args.notebooks[1])))
        return 0
    if args.overhead:
        if args.repeats < 1:
            parser.error(f"--repeats must be at least 1, got {args.repeats}")
        res = overhead(repeats=args.repeats)
        print(f"plain Keras {res['keras_s']:.2f} s, dlgen.fit {res['dlgen_s']:.2f} s (medians of "
              f"{args.repeats}): dlgen's overhead {100 * res['overhead']:+.1f}% "
              f"(run-to-run spread of plain Keras {100 * res['spread']:.1f}%; machine: {os.cpu_count()} CPUs)")
        if not args.notebooks:
            return 0
    if not args.notebooks:
        parser.error("give notebooks to time, or --overhead")
    modes = [m.strip() for m in args.modes.split(",")]
    bad = [m for m in modes if m not in ("quick", "full")]
    if bad:
        parser.error(f"unknown mode(s) {bad}; allowed: quick, full")
    import pandas as pd

    rows = []
    for nb in args.notebooks:
        for mode in modes:
            with tempfile.TemporaryDirectory() as cache:
                runs = [("cold", _run_child(nb, mode, cache))]
                if args.warm:
                    runs.append(("warm", _run_child(nb, mode, cache)))
            for cache_state, res in runs:
                row = {"notebook": pathlib.Path(nb).name, "mode": mode, "cache": cache_state,
                       "seconds": round(res["seconds"], 1), "peak_mb": round(res["peak_mb"], 0)}
                if "error" in res:
                    row["error"] = res["error"]
                rows.append(row)
                print(f"{row['notebook']:32s} {mode:5s} {cache_state:4s} "
                      f"{row['seconds']:8.1f} s  {row['peak_mb']:6.0f} MB  {row.get('error', '')}",
                      flush=True)
    table = pd.DataFrame(rows)
    pathlib.Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    print()
    print(table.to_string(index=False))
    print(f"\n(written to {args.csv}; machine: {os.cpu_count()} CPUs)")
    return 1 if "error" in table.columns and table["error"].notna().any() else 0


if __name__ == "__main__":
    sys.exit(main())

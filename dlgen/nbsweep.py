"""Sweeps over whole notebooks: papermill runs, results read back from the outputs.

A *run notebook* trains one configuration, chosen by its papermill
`parameters` cell, and ends with `publish_record(record)`, which shows the
run's `RunRecord` as a JSON output tagged for dlgen. `notebook_sweep`
executes the notebook with papermill for every configuration and seed of a
grid, keeps each executed copy (so every run can be opened and read), reads
the records back from those copies with `read_records`, and caches them in
the `ResultsCache`, keyed by the notebook's code, the parameters, the data
fingerprint, the kernel and what it runs: dlgen's training code and the
versions of dlgen, Keras and the backend *in that kernel* (asked of it once
per process), which may differ from the sweeping process's own.

Only JSON crosses from the executed notebook to the sweep: nothing is
unpickled, and a notebook output is never executed.
"""

import concurrent.futures
import contextlib
import functools
import hashlib
import json
import logging
import os
import pathlib
import re
import tempfile

from .cache import as_cache, describe, key_of, to_jsonable
from .sweep import _check_configs, _check_seeds
from .training import RunRecord

__all__ = ["RECORD_MIME", "notebook_sweep", "publish_record", "read_records", "run_notebook", "run_notebooks"]

# The run notebooks ship inside the package (package data), so that a chapter
# that sweeps one runs on its own: copied alone into a folder, or opened on
# Colab, with dlgen installed from a wheel.
_RUN_NOTEBOOKS = pathlib.Path(__file__).resolve().parent / "run_notebooks"


def run_notebooks():
    """Names of the run notebooks that ship with dlgen.

    Example:

    >>> "14a_one_run" in run_notebooks()
    True
    """
    return sorted(p.stem for p in _RUN_NOTEBOOKS.glob("*.ipynb"))


def run_notebook(name):
    """Path of a run notebook that ships with dlgen, for `notebook_sweep`.

    Args:
        name: its name without `.ipynb`, one of `run_notebooks()`.

    Raises:
        ValueError: no run notebook of that name (the message lists them).

    Example:

    >>> run_notebook("14a_one_run").name
    '14a_one_run.ipynb'
    """
    names = run_notebooks()
    if not isinstance(name, str) or name.removesuffix(".ipynb") not in names:
        raise ValueError(f"no run notebook {name!r} ships with dlgen; there are: {', '.join(names)}.")
    return _RUN_NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb"

RECORD_MIME = "application/json"
_TAG = "dlgen_record"


def _payload(record):
    payload = record.to_dict() if isinstance(record, RunRecord) else record
    if not isinstance(payload, dict):
        raise TypeError(f"publish_record needs a RunRecord or a dict, got {type(record).__name__}.")
    return to_jsonable(payload, "the published record")


def publish_record(record, name="run"):
    """Show a run's record as a notebook output that `read_records` finds.

    Args:
        record: a `dlgen.RunRecord` (stored with `to_dict`) or a
            JSON-serializable dict.
        name: the record's name in the notebook (a notebook may publish
            several; `notebook_sweep` reads the one named by its `record`
            argument).

    Returns:
        The payload (a dict), also shown as the output of the cell.

    Example (the last cell of a run notebook):

    >>> record = dlgen.fit(model, train, val, test, epochs=EPOCHS)  # doctest: +SKIP
    >>> dlgen.publish_record(record);  # doctest: +SKIP
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"record names must be identifiers, got {name!r}.")
    payload = _payload(record)
    from IPython.display import display

    summary = f"dlgen record {name!r}: " + ", ".join(sorted(payload))
    display({RECORD_MIME: payload, "text/plain": summary}, raw=True, metadata={_TAG: name})
    return payload


def read_records(notebook):
    """The records a notebook published, `{name: payload}`.

    Args:
        notebook: path of an executed notebook, or a `nbformat` node.

    Raises:
        ValueError: if one name was published twice.

    Example:

    >>> from nbformat.v4 import new_code_cell, new_notebook, new_output
    >>> out = new_output("display_data", data={RECORD_MIME: {"test": {"accuracy": 0.8}}},
    ...                  metadata={"dlgen_record": "run"})
    >>> read_records(new_notebook(cells=[new_code_cell("publish", outputs=[out])]))
    {'run': {'test': {'accuracy': 0.8}}}
    """
    import nbformat

    nb = nbformat.read(os.fspath(notebook), as_version=4) if isinstance(notebook, (str, os.PathLike)) else notebook
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            name = out.get("metadata", {}).get(_TAG)
            if name is None or RECORD_MIME not in out.get("data", {}):
                continue
            if name in found:
                raise ValueError(f"the notebook published the record {name!r} twice.")
            data = out["data"][RECORD_MIME]
            found[name] = json.loads(data) if isinstance(data, str) else data
    return found


def _code_digest(path):
    import nbformat

    nb = nbformat.read(os.fspath(path), as_version=4)
    code = "\n# --- cell ---\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def _slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()[:40] or "run"


_PROBE = "import json, dlgen.cache; print(json.dumps(dlgen.cache.environment()))"


@functools.lru_cache(maxsize=None)
def kernel_environment(kernel_name, cwd):
    """dlgen's training code and the versions of dlgen, Keras and the backend in a kernel.

    Asked of a fresh kernel of `kernel_name` started in `cwd` (once per
    process and kernel), since a notebook's kernel may run other versions
    than the process that sweeps it.
    """
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel_name, cwd=cwd,
                              extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    lines, errors = [], []

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            lines.append(content["text"])
        elif kind == "error":
            errors.append(f"{content.get('ename')}: {content.get('evalue')}")

    try:
        kc.execute_interactive(_PROBE, output_hook=hook, timeout=300)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    if errors:
        raise RuntimeError(f"the kernel {kernel_name!r} cannot import dlgen ({errors[0]}); install dlgen "
                           "in the kernel's environment, or pass kernel_name= a kernel that has it.")
    return json.loads("".join(lines).strip().splitlines()[-1])


def _kernel_name(notebook, kernel_name):
    if kernel_name is not None:
        if not isinstance(kernel_name, str) or not kernel_name:
            raise TypeError(f"kernel_name must be the name of a Jupyter kernel, got {kernel_name!r}.")
        return kernel_name
    import nbformat

    nb = nbformat.read(os.fspath(notebook), as_version=4)
    name = nb.metadata.get("kernelspec", {}).get("name")
    if not name:
        raise ValueError(f"{notebook.name} names no kernel in its metadata; pass kernel_name=, e.g. 'python3'.")
    return name


def _execute(notebook, out_path, parameters, kernel_name, record, cwd):
    import papermill

    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=".ipynb")
    os.close(fd)
    try:
        papermill.execute_notebook(
            os.fspath(notebook), tmp, parameters=parameters, kernel_name=kernel_name,
            progress_bar=False,
            # The kernel starts in `cwd`. papermill's own `cwd=` would chdir this whole
            # process, which is not safe while other threads start kernels.
            resources={"metadata": {"path": os.fspath(cwd)}},
            # The kernel's own log lines (start-up notices, shutdown) would land in the
            # sweeping notebook's output; a failing cell still raises with its traceback.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
        records = read_records(tmp)
        if record not in records:
            raise RuntimeError(
                f"{notebook} ran with {parameters} but published no record named {record!r} "
                f"(it published {sorted(records) or 'none'}); end it with dlgen.publish_record(...)."
            )
        os.replace(tmp, out_path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return records[record]


@contextlib.contextmanager
def _quiet_papermill():
    # papermill warns once per run that it cannot parse a parameter whose default is
    # computed (e.g. `QUICK = dlgen.is_quick()`); such a parameter can still be set.
    log = logging.getLogger("papermill")
    level = log.level
    log.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        log.setLevel(level)


def notebook_sweep(notebook, configs, seeds, *, seed_parameter="SEED", fixed=None, data=None,
                   output_dir=None, cache=True, record="run", jobs=1, kernel_name=None, progress=True):
    """Execute a run notebook for every configuration and seed; return the records.

    Args:
        notebook: path of the run notebook. It must have a cell tagged
            `parameters` defining every parameter the grid sets, and must
            call `dlgen.publish_record(record, name=record)`.
        configs: `{name: {PARAMETER: value}}`; the names label the runs.
        seeds: integer seeds, passed as the parameter `seed_parameter`.
        fixed: parameters passed unchanged to every run (e.g. the budget).
        data: a fingerprint of the data the runs use (part of the cache key).
        output_dir: where the executed copies go, one per run, named
            `<notebook>-<config>-<key>-seed<seed>.ipynb` (`<key>`: the first
            digits of the run's key, so that no two runs share a file);
            default: the folder `notebooks/` of the results cache.
        cache: `True` for the default `ResultsCache`, a `ResultsCache`, or
            `False` to always execute.
        record: the name of the published record to read.
        jobs: how many notebooks execute at once (each in its own kernel).
        kernel_name: the Jupyter kernel (default: the notebook's own);
            part of the key, with the versions it runs.
        progress: show a progress bar.

    Returns:
        A list of `RunRecord` objects, configurations in the given order, then seeds,
        with `name` and `seed` set, and `extra["notebook"]` the executed copy
        (absent for a record served from the cache whose copy is gone).

    Raises:
        ValueError: a parameter the notebook does not define (the message
            lists those it does), an empty grid, or a bad seed or `jobs`.
        papermill.PapermillExecutionError: a run failed; its executed copy
            is not kept and nothing is cached for it.

    Example (chapter 14):

    >>> configs = {"narrow": {"UNITS": 64}, "wide, dropout": {"UNITS": 512, "DROPOUT": 0.5}}
    >>> records = notebook_sweep("14a_one_run.ipynb", configs, seeds=[0, 1], jobs=2)  # doctest: +SKIP
    >>> dlgen.records_frame(records).groupby("name")["val_accuracy"].mean()  # doctest: +SKIP
    """
    import papermill

    from ._checks import check_int

    notebook = pathlib.Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"no run notebook at {notebook}.")
    # The same checks as run_sweep's; papermill passes parameters as JSON.
    configs = _check_configs(configs)
    seeds = _check_seeds(seeds)
    jobs = check_int("jobs", jobs, 1)
    fixed = to_jsonable(dict(fixed or {}), "fixed")
    with _quiet_papermill():
        known = set(papermill.inspect_notebook(os.fspath(notebook)))
    for name, cfg in [("fixed", fixed)] + list(configs.items()):
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"configuration {name!r} sets {unknown}, which {notebook.name} does not define; "
                             f"its parameters are {sorted(known)}.")
    if seed_parameter not in known:
        raise ValueError(f"{notebook.name} has no parameter {seed_parameter!r}; its parameters are {sorted(known)}.")
    cache = as_cache(cache)
    notebook = notebook.resolve()
    kernel_name = _kernel_name(notebook, kernel_name)
    out_dir = pathlib.Path(output_dir).expanduser().resolve() if output_dir is not None else (
        (cache.directory if cache else pathlib.Path(tempfile.gettempdir()) / "dlgen") / "notebooks")
    base = {"kind": "notebook", "notebook": notebook.name, "code": _code_digest(notebook),
            "data": describe(data), "record": record, "kernel": kernel_name,
            "environment": kernel_environment(kernel_name, os.fspath(notebook.parent)) if cache else None}

    jobs_list = []
    for name, cfg in configs.items():
        for seed in seeds:
            params = to_jsonable({**fixed, **cfg, seed_parameter: seed})
            key = key_of({**base, "parameters": params})
            # The key's digest makes the name unique: "wide, dropout" and "wide dropout" share a slug.
            out = out_dir / f"{notebook.stem}-{_slug(name)}-{key[:8]}-seed{seed}.ipynb"
            jobs_list.append((name, seed, params, key, out))

    def run(params, out):
        stored = _execute(notebook, out, params, kernel_name, record, notebook.parent)
        try:
            RunRecord.from_dict(stored)  # checked before it is cached
        except ValueError as e:
            out.unlink(missing_ok=True)
            raise ValueError(f"{notebook.name} with {params} published a record {record!r} that is not a "
                             f"RunRecord: {e}") from None
        return stored

    def one(job):
        name, seed, params, key, out = job
        if cache:
            with cache.lock(key):
                stored = cache.get(key, validate=lambda v: (RunRecord.from_dict(v), v)[1])
                if stored is None:
                    stored = run(params, out)
                    cache.put(key, stored)
        else:
            stored = run(params, out)
        rec = RunRecord.from_dict(stored)
        rec.name, rec.seed = name, seed
        if out.exists():
            rec.extra = {**rec.extra, "notebook": os.fspath(out)}
        return rec

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs_list), desc=notebook.stem, leave=False)
    try:
        with _quiet_papermill(), concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(one, job) for job in jobs_list]
            records = []
            try:
                for f in futures:
                    records.append(f.result())
                    if bar is not None:
                        bar.update(1)
            except BaseException:
                # A failed or interrupted run stops the sweep: runs not yet started are
                # dropped; finished ones are already in the cache.
                for f in futures:
                    f.cancel()
                raise
    finally:
        if bar is not None:
            bar.close()
    return records

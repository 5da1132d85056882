"""dlgen.cache and dlgen.sweep: a run's key covers everything it reads; entries are never lost or corrupt.

A run function here stamps its record with a fresh random nonce, so that a
test tells a computed record (a new nonce) from one served by the cache (the
nonce of the first run). The nonce comes from `uuid`, a module, which the
key describes by name, not by state.
"""

import functools
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
import warnings

import numpy as np
import pandas as pd
import pytest

import dlgen
from dlgen import cache as cache_module


def _record(value):
    h = pd.DataFrame({"loss": [1.0, value], "accuracy": [0.5, 1.0], "val_loss": [1.0, value + 0.5],
                      "val_accuracy": [0.5, 0.8]})
    return dlgen.RunRecord(h, {"accuracy": 0.8 - value / 10, "loss": value}, 0.01, 10, {},
                           extra={"nonce": uuid.uuid4().hex})


def run(seed, scale):
    if os.environ.get("DLGEN_TEST_FAIL_ON") == f"{scale},{seed}":
        raise KeyboardInterrupt
    return _record(scale * np.random.rand())


def sweep(fn, cache, configs=None, seeds=(0,), **kwargs):
    return dlgen.run_sweep(fn, configs or {"a": {"scale": 1}}, list(seeds), cache=cache, progress=False, **kwargs)


def nonces(records):
    return [r.extra["nonce"] for r in records]


def reused(fn, cache, **kwargs):
    """Sweep twice; True if the second sweep was served from the cache."""
    return nonces(sweep(fn, cache, **kwargs)) == nonces(sweep(fn, cache, **kwargs))


@pytest.fixture
def cache(tmp_path):
    return dlgen.ResultsCache(tmp_path / "cache")


# -- the key covers every hidden input, and only those --------------------------------------------

SCALE = 1.0
ARRAY = np.zeros(5)
HELPER_SETTING = 1


def helper():
    return HELPER_SETTING


def reads_a_global(seed):
    return _record(SCALE)


def reads_a_global_array(seed):
    return _record(float(ARRAY.sum()))


def calls_a_helper(seed):
    return _record(helper())


def reads_in_a_comprehension(seed):
    return _record(sum(SCALE for _ in range(2)))


@pytest.mark.parametrize("fn, name, new", [
    (reads_a_global, "SCALE", 2.0),
    (reads_a_global_array, "ARRAY", np.ones(5)),
    (calls_a_helper, "HELPER_SETTING", 2),
    (reads_in_a_comprehension, "SCALE", 3.0),
])
def test_a_changed_global_invalidates_and_an_unchanged_one_reuses(fn, name, new, cache, monkeypatch):
    first = nonces(sweep(fn, cache, configs={"a": {}}))
    assert nonces(sweep(fn, cache, configs={"a": {}})) == first
    monkeypatch.setitem(globals(), name, new)
    changed = nonces(sweep(fn, cache, configs={"a": {}}))
    assert changed != first
    monkeypatch.undo()
    assert nonces(sweep(fn, cache, configs={"a": {}})) == first


def test_an_array_changed_in_place_invalidates(cache, monkeypatch):
    monkeypatch.setitem(globals(), "ARRAY", np.zeros(5))
    first = nonces(sweep(reads_a_global_array, cache, configs={"a": {}}))
    ARRAY[2] = 1.0
    assert nonces(sweep(reads_a_global_array, cache, configs={"a": {}})) != first


def _import_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = '''
import numpy as np
import dlgen, pandas as pd

def helper(x):
    {doc}
    return x * {factor}  {comment}

def run(seed):
    h = pd.DataFrame({{"loss": [helper(1.0)]}})
    return dlgen.RunRecord(h, {{}}, 0.0, 1, {{}}, extra={{"nonce": str(np.random.rand())}})
'''


def test_a_helpers_code_is_in_the_key_but_not_its_docstring_or_comments(tmp_path):
    def key_of(i, **fmt):
        path = tmp_path / f"m{i}.py"
        path.write_text(MODULE.format(**{"doc": '"""Doc."""', "factor": 2, "comment": "", **fmt}))
        return dlgen.describe(_import_module(path, "helper_module").run)

    base = key_of(0)
    assert key_of(1, doc='"""Another docstring."""', comment="# a comment") == base
    assert key_of(2, factor=3) != base


def make_run(offset):
    def closure_run(seed):
        return _record(offset)
    return closure_run


class Trainer:
    def __init__(self, lr):
        self.lr = lr

    def __call__(self, seed):
        return _record(self.lr)


@pytest.mark.parametrize("same, other", [
    (lambda: make_run(1.0), lambda: make_run(2.0)),
    (lambda: Trainer(0.1), lambda: Trainer(0.01)),
    (lambda: functools.partial(run, scale=1), lambda: functools.partial(run, scale=2)),
])
def test_closures_object_state_and_partial_arguments_are_in_the_key(same, other, cache):
    first = nonces(sweep(same(), cache, configs={"a": {}}))
    assert nonces(sweep(same(), cache, configs={"a": {}})) == first   # a new but equal object reuses
    assert nonces(sweep(other(), cache, configs={"a": {}})) != first


def test_deterministic_is_in_the_key(cache):
    first = nonces(sweep(run, cache))
    assert nonces(sweep(run, cache)) == first
    assert nonces(sweep(run, cache, deterministic=False)) != first


def test_config_seed_and_data_are_in_the_key(cache):
    first = nonces(sweep(run, cache, data="toy"))
    assert nonces(sweep(run, cache, data="toy")) == first
    assert nonces(sweep(run, cache, data="other")) != first
    assert nonces(sweep(run, cache, data=np.zeros(3))) != nonces(sweep(run, cache, data=np.ones(3)))
    assert nonces(sweep(run, cache, configs={"a": {"scale": 2}})) != first
    assert nonces(sweep(run, cache, seeds=[1])) != first
    # The name of a configuration labels it; it is not part of what is computed.
    assert nonces(sweep(run, cache, configs={"other name": {"scale": 1}}, data="toy")) == first


def test_functions_without_source_are_keyed_by_their_bytecode():
    namespace = {}
    exec("def f(seed):\n    return 1\n", namespace)
    one = dlgen.describe(namespace["f"])
    exec("def f(seed):\n    return 2\n", namespace)
    assert "bytecode" in one and dlgen.describe(namespace["f"]) != one


LOCK = threading.Lock()


def reads_a_lock(seed):
    with LOCK:
        return _record(1.0)


def test_a_value_that_cannot_be_keyed_is_a_clear_error_before_training(cache):
    with pytest.raises(TypeError, match=r"global 'LOCK' read by .*reads_a_lock is a _thread.lock"):
        sweep(reads_a_lock, cache, configs={"a": {}})
    assert not list(cache.directory.glob("*.json"))


def test_keras_models_and_pandas_tables_are_keyed_by_content():
    import keras

    model = dlgen.build_mlp((3,), 2, depth=1, units=4)
    before = dlgen.describe(model)
    model.layers[-1].set_weights([w + 1 for w in model.layers[-1].get_weights()])
    assert dlgen.describe(model) != before
    frame = pd.DataFrame({"a": [1, 2]})
    assert dlgen.describe(frame) == dlgen.describe(frame.copy())
    assert dlgen.describe(frame) != dlgen.describe(frame.assign(a=[1, 3]))
    assert dlgen.describe(keras.optimizers.SGD(0.1)) != dlgen.describe(keras.optimizers.SGD(0.01))


def test_training_code_digest_ignores_docstrings_and_comments(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Module doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1  # add one\n')
    before = cache_module.code_digest([path])
    path.write_text('"""Another module doc."""\n\n\ndef f(x):\n    """A better doc."""\n    return x + 1\n')
    assert cache_module.code_digest([path]) == before
    path.write_text('def f(x):\n    return x + 2\n')
    assert cache_module.code_digest([path]) != before


def test_every_dlgen_module_is_classed_as_training_or_report_code():
    import pathlib

    modules = {p.stem for p in pathlib.Path(dlgen.__file__).parent.glob("*.py")}
    training, report = set(cache_module.TRAINING_MODULES), set(cache_module.REPORT_MODULES)
    assert not training & report
    assert training | report == modules


# -- records are never lost -----------------------------------------------------------------------

def test_numpy_values_in_config_and_extra_are_stored():
    r = _record(0.5)
    r.config = {"units": np.int64(64), "rates": (np.float32(0.5), 0.1)}
    r.extra.update(table=np.arange(3), seed=np.int32(2))
    r.seed = np.int64(3)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["config"] == {"units": 64, "rates": [0.5, 0.1]} and d["extra"]["table"] == [0, 1, 2]
    assert dlgen.RunRecord.from_dict(d).seed == 3


def test_a_config_that_cannot_be_stored_fails_before_training(cache):
    calls = []

    def counted(seed, scale):
        calls.append(seed)
        return _record(1.0)

    with pytest.raises(TypeError, match=r"configuration 'a'\['scale'\] is a object"):
        sweep(counted, cache, configs={"a": {"scale": object()}})
    x, y = np.zeros((4, 3), "float32"), np.arange(4) % 2
    with pytest.raises(TypeError, match=r"config\['units'\] is a set"):
        dlgen.fit(dlgen.build_mlp((3,), 2, depth=1, units=2), (x, y), epochs=1, config={"units": {1}})
    assert calls == []
    # NumPy scalars in a sweep's configuration are stored and keyed as numbers.
    recs = sweep(run, cache, configs={"a": {"scale": np.int64(1)}})
    assert nonces(sweep(run, cache, configs={"a": {"scale": 1}})) == nonces(recs)


def test_an_entry_of_the_wrong_shape_is_recomputed_with_a_warning(cache):
    first = sweep(run, cache)
    (entry,) = cache.directory.glob("*.json")
    key = entry.stem
    cache.put(key, {"history": 3})                    # a valid checksum, but no record
    with pytest.warns(UserWarning, match="not valid.*missing"):
        again = sweep(run, cache)
    assert nonces(again) != nonces(first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nonces(sweep(run, cache)) == nonces(again)


@pytest.mark.parametrize("damage", ["truncate", "tamper", "garbage"])
def test_corrupt_entries_are_recomputed(cache, damage):
    first = sweep(run, cache)
    (entry,) = cache.directory.glob("*.json")
    text = entry.read_text()
    if damage == "truncate":
        entry.write_text(text[: len(text) // 2])
    elif damage == "tamper":
        data = json.loads(text)
        data["value"]["test"]["accuracy"] = 1.0
        entry.write_text(json.dumps(data))
    else:
        entry.write_bytes(b"\x80\x04not json")
    with pytest.warns(UserWarning, match="corrupt results-cache entry"):
        again = sweep(run, cache)
    assert nonces(again) != nonces(first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nonces(sweep(run, cache)) == nonces(again)


def test_an_entry_that_vanishes_is_simply_absent(cache):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get("0" * 32) is None


def test_interrupted_sweep_resumes_without_redoing_work(cache, monkeypatch):
    configs = {"a": {"scale": 1}, "b": {"scale": 2}}
    monkeypatch.setenv("DLGEN_TEST_FAIL_ON", "2,1")      # the environment is invisible to the key
    with pytest.raises(KeyboardInterrupt):
        sweep(run, cache, configs=configs, seeds=[0, 1])
    done = sorted(p.name for p in cache.directory.glob("*.json"))
    assert len(done) == 3 and not list(cache.directory.glob("*.tmp"))  # nothing half-written
    monkeypatch.delenv("DLGEN_TEST_FAIL_ON")
    recs = sweep(run, cache, configs=configs, seeds=[0, 1])
    assert len(recs) == 4 and len(list(cache.directory.glob("*.json"))) == 4


def test_put_is_atomic_when_writing_fails(cache, monkeypatch):
    cache.put("k", {"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.put("k", {"v": 2})
    assert cache.get("k") == {"v": 1}
    assert [p.name for p in cache.directory.glob("*.json")] == ["k.json"]


def test_default_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DLGEN_CACHE", str(tmp_path / "c"))
    sweep(run, True)
    assert len(list((tmp_path / "c").glob("*.json"))) == 1


def test_seeds_are_set_before_each_run():
    recs = dlgen.run_sweep(run, {"a": {"scale": 1}}, [5, 5, 6], cache=False, progress=False)
    assert recs[0].test == recs[1].test != recs[2].test
    assert [(r.name, r.seed) for r in recs] == [("a", 5), ("a", 5), ("a", 6)]


# -- two writers ----------------------------------------------------------------------------------

WRITER = '''
import os, sys, time
import numpy as np, pandas as pd
import dlgen

def slow(seed):
    with open(os.environ["RUN_LOG"], "a") as f:   # a file: outside what the key sees
        f.write("computed\\n")
    time.sleep(2.0)
    h = pd.DataFrame({"loss": [float(np.random.rand())]})
    return dlgen.RunRecord(h, {}, 0.0, 1, {})

if __name__ == "__main__":
    rec, = dlgen.run_sweep(slow, {"a": {}}, [0], cache=dlgen.ResultsCache(sys.argv[1]), progress=False)
    print(rec.history["loss"].iloc[0])
'''


@pytest.mark.integration
def test_two_processes_sharing_a_key_compute_it_once_and_leave_one_valid_entry(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    log = tmp_path / "runs.log"
    env = {**os.environ, "RUN_LOG": str(log)}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "shared")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert log.read_text().count("computed") == 1
    assert outs[0][0].strip().splitlines()[-1] == outs[1][0].strip().splitlines()[-1]
    shared = dlgen.ResultsCache(tmp_path / "shared")
    (entry,) = shared.directory.glob("*.json")
    assert dlgen.RunRecord.from_dict(shared.get(entry.stem)).params == 1
    assert not list(shared.directory.glob("*.tmp"))


def test_concurrent_puts_of_one_key_leave_a_valid_entry(tmp_path):
    c = dlgen.ResultsCache(tmp_path)
    values = [{"v": i, "pad": "x" * 100_000} for i in range(8)]
    threads = [threading.Thread(target=c.put, args=("k", v)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.get("k") in values


# -- clear errors for bad input -------------------------------------------------------------------

def test_bad_sweep_arguments_name_the_value(cache):
    with pytest.raises(TypeError, match=r"seeds must be a list .* got int 3 \(for 3 seeds, pass list\(range\(3\)\)\)"):
        dlgen.run_sweep(run, {"a": {"scale": 1}}, seeds=3)
    with pytest.raises(TypeError, match=r"cache must be True, False or a dlgen.ResultsCache, got str '~/c'; "
                                        r"for a folder, pass dlgen.ResultsCache\('~/c'\)"):
        dlgen.run_sweep(run, {"a": {"scale": 1}}, [0], cache="~/c")
    with pytest.raises(ValueError, match="configs must be a non-empty dict"):
        dlgen.run_sweep(run, {}, [0])
    with pytest.raises(ValueError, match="each seed must be a non-negative integer, got -1"):
        dlgen.run_sweep(run, {"a": {"scale": 1}}, [-1])
    with pytest.raises(TypeError, match="must return a RunRecord"):
        dlgen.run_sweep(lambda seed: 3, {"a": {}}, [0], cache=False, progress=False)
    assert dlgen.ResultsCache("~/c").directory == dlgen.ResultsCache(os.path.expanduser("~/c")).directory


def test_to_jsonable_names_where_the_bad_value_is():
    with pytest.raises(TypeError, match=r"x\['a'\]\[1\] is a complex"):
        cache_module.to_jsonable({"a": [1, 2j]}, "x")
    with pytest.raises(TypeError, match="has the key 1"):
        cache_module.to_jsonable({1: 2}, "x")


@pytest.mark.integration
def test_sweep_script_module_runs_in_a_subprocess_too(tmp_path):
    # A run function in a script (module __main__) is followed like a notebook's.
    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent('''
        import dlgen
        K = 1
        def f(seed):
            return K
        a = dlgen.describe(f)
        K = 2
        print(a != dlgen.describe(f))
    '''))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


class Config:
    def __init__(self, units):
        self.units = units


def test_an_object_is_described_the_same_before_and_after_python_caches_things_on_its_class():
    import copy

    before = dlgen.describe(Config(3))
    copy.copy(Config(3))                          # fills Config.__slotnames__
    assert dlgen.describe(Config(3)) == before != dlgen.describe(Config(4))


fit = threading.Lock()      # a global that shares its name with an attribute the run function uses


def uses_an_attribute_named_like_a_global(seed):
    return dlgen.fit(dlgen.build_mlp((2,), 2, depth=0), (np.zeros((4, 2)), np.zeros(4)), epochs=0)


def test_attribute_names_are_not_read_as_globals():
    # `dlgen.fit` reads the global `dlgen`, not the global `fit` (a lock, which could not be keyed).
    described = dlgen.describe(uses_an_attribute_named_like_a_global)
    assert set(described["globals"]) == {"dlgen", "np"}

"""The results cache, and the keys that address its entries.

An entry is a JSON file named by a key: the SHA-256 of a canonical JSON
description of everything that decides the result. For a run function that
description (`describe`) holds the function's code and the *values* of
everything it reads from outside its arguments: the globals and closure
variables it names, followed into the helper functions it calls, arrays by
content, a callable object's state. What cannot be described faithfully is
refused with a `TypeError` that names the value, never silently left out.

Entries are written atomically (a temporary file, then a rename) under a
lock per key, so that two processes sharing a cache (two chapters running at
once) never corrupt an entry or compute the same run twice. An entry that
does not parse, fails its checksum or fails the caller's validation is
reported with a warning, removed and recomputed, never trusted.

What the cache cannot see: files and environment variables a run reads,
and randomness that does not come from the seed `run_sweep` sets.
"""

import ast
import dataclasses
import dis
import enum
import functools
import hashlib
import importlib.metadata
import inspect
import json
import math
import os
import pathlib
import sys
import sysconfig
import tempfile
import textwrap
import types
import warnings

import numpy as np

__all__ = ["ResultsCache", "as_cache", "code_digest", "default_cache_dir", "describe", "environment",
           "fingerprint", "key_of", "to_jsonable"]

# Version of the entry file format and of the key scheme: changing how keys
# are made bumps it, so that no old entry answers for a new key scheme.
_FORMAT = 2

# dlgen's modules whose code can change a result: their code (without
# docstrings and comments) is part of every key. The others only read,
# tabulate, plot or report results. Every module is in exactly one of the two
# (a test checks), so a new module must be placed.
TRAINING_MODULES = (
    "_checks", "augment", "callbacks", "config", "data", "diagnose", "distribute", "evaluation", "lr_finder",
    "metrics", "models", "outlook", "pathologies", "probes", "schedules", "surfaces", "sweep", "training", "transfer",
)
REPORT_MODULES = ("__init__", "bench", "cache", "experiments", "nbsweep", "notebook", "plots", "claims", "preflight")


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
        if a.dtype.hasobject:
            raise TypeError(f"cannot fingerprint an array of Python objects (dtype {a.dtype}, shape {a.shape}).")
        h.update(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def to_jsonable(value, where="value"):
    """`value` with NumPy scalars and arrays turned into Python numbers and lists.

    Dicts need string keys; tuples become lists; anything else that JSON
    cannot hold raises a `TypeError` naming where it was found.

    Example:

    >>> to_jsonable({"units": np.int64(64), "rates": np.array([0.1, 0.5])}, "config")
    {'units': 64, 'rates': [0.1, 0.5]}
    >>> to_jsonable({"fn": print}, "config")
    Traceback (most recent call last):
    ...
    TypeError: config['fn'] is a builtin_function_or_method, which a JSON record cannot hold; allowed: None, bool, int, float, str, lists, tuples, dicts with string keys, NumPy scalars and arrays.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has the key {k!r} ({type(k).__name__}); JSON keys must be strings.")
            out[str(k)] = to_jsonable(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where} is a {type(value).__name__}, which a JSON record cannot hold; allowed: None, bool, "
                    "int, float, str, lists, tuples, dicts with string keys, NumPy scalars and arrays.")


def _canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True)


def _digest(obj):
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


# -- describing what a run function reads -------------------------------------------------------

def _library_roots():
    roots = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(str(pathlib.Path(r).resolve()) + os.sep for r in roots if r)


_LIBRARY_ROOTS = _library_roots()


def _is_library(module_name):
    """Installed or standard-library code (identified by name and version), and dlgen
    itself (its training code is hashed as a whole); anything else is followed."""
    if not module_name or module_name == "__main__":
        return False
    top = module_name.split(".")[0]
    if top == "dlgen" or top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return True
    module = sys.modules.get(module_name) or sys.modules.get(top)
    path = getattr(module, "__file__", None)
    if not path:
        return False
    path = str(pathlib.Path(path).resolve())
    return path.startswith(_LIBRARY_ROOTS) or f"{os.sep}site-packages{os.sep}" in path \
        or f"{os.sep}dist-packages{os.sep}" in path


def _library_member(obj):
    """Whether `obj` (a function or class) is library code, as its module defines it.

    It must be the object its module holds under its name: a function defined
    in a doctest or by `exec` with a library module's name is followed instead.
    """
    module_name = getattr(obj, "__module__", None)
    if not _is_library(module_name):
        return False
    target = sys.modules.get(module_name)
    for part in obj.__qualname__.split("."):
        target = getattr(target, part, None)
    if target is obj:
        return True
    # A function made inside library code (a closure, a nested helper): library code
    # if it runs in its module's own namespace (its closure is described apart).
    module = sys.modules.get(module_name)
    return module is not None and getattr(obj, "__globals__", None) is vars(module)


def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code_text(source):
    """The code of `source` without comments, docstrings or layout (its AST), or the
    text itself where it does not parse on its own (e.g. a lambda inside a call)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return source
    return ast.dump(_strip_docstrings(tree))


def _bytecode_digest(code):
    h = hashlib.sha256()
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    h.update(repr(code.co_varnames).encode())
    for const in code.co_consts:
        h.update(_bytecode_digest(const).encode() if isinstance(const, types.CodeType) else repr(const).encode())
    return h.hexdigest()[:16]


def _names(code):
    """Global names the code object, and the functions, lambdas and comprehensions
    nested in it, load (not attribute names: `model.fit` does not read a global `fit`)."""
    names = {ins.argval for ins in dis.get_instructions(code)
             if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str)}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _function_code(fn):
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        # No source file (exec, some REPLs): the bytecode is the code.
        return {"bytecode": _bytecode_digest(fn.__code__)}
    return {"source": hashlib.sha256(_code_text(source).encode()).hexdigest()[:16]}


def _cells(fn):
    """The closure variables of `fn` and their values (an unfilled cell is `None`)."""
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            out[name] = None
    return out


class _Describer:
    def __init__(self):
        self.active = set()

    def __call__(self, value, where):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"float": repr(value)}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return {"numpy": value.dtype.str, "value": self(value.item(), where)}
        if isinstance(value, bytes):
            return {"bytes": hashlib.sha256(value).hexdigest()[:16]}
        if isinstance(value, np.ndarray):
            try:
                return {"array": fingerprint(value)}
            except TypeError as e:
                raise TypeError(f"{where}: {e}") from None
        if isinstance(value, np.random.Generator):
            return {"numpy_generator": self(value.bit_generator.state, f"{where} (generator state)")}
        if isinstance(value, np.random.RandomState):
            return {"numpy_random_state": self(list(value.get_state()), f"{where} (random state)")}
        if isinstance(value, (list, tuple)):
            return {type(value).__name__: [self(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            items = [(self(k, f"{where} key"), self(v, f"{where}[{k!r}]")) for k, v in value.items()]
            return {"dict": sorted(items, key=lambda kv: _canonical(kv[0]))}
        if isinstance(value, (set, frozenset)):
            return {"set": sorted((self(v, f"{where} item") for v in value), key=_canonical)}
        if isinstance(value, range):
            return {"range": [value.start, value.stop, value.step]}
        if isinstance(value, pathlib.PurePath):
            return {"path": str(value)}
        if isinstance(value, enum.Enum):
            return {"enum": f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"}
        if isinstance(value, types.ModuleType):
            return {"module": value.__name__}
        if isinstance(value, functools.partial):
            return {"partial": self(value.func, f"{where}.func"), "args": self(list(value.args), f"{where}.args"),
                    "keywords": self(dict(value.keywords), f"{where}.keywords")}
        if isinstance(value, types.MethodType):
            return {"method": value.__func__.__qualname__, "self": self(value.__self__, f"{where}.__self__"),
                    "function": self(value.__func__, where)}
        if isinstance(value, (types.BuiltinFunctionType, types.WrapperDescriptorType,
                              types.MethodDescriptorType, np.ufunc)):
            return {"builtin": f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', value.__name__)}"}
        if isinstance(value, types.FunctionType):
            return self._function(value, where)
        if isinstance(value, type):
            return self._class(value, where)
        if isinstance(value, (staticmethod, classmethod)):
            return {type(value).__name__: self(value.__func__, where)}
        if isinstance(value, property):
            return {"property": [self(f, where) for f in (value.fget, value.fset) if f is not None]}
        pandas = self._pandas(value)
        if pandas is not None:
            return pandas
        keras_value = self._keras(value, where)
        if keras_value is not None:
            return keras_value
        return self._object(value, where)

    def _function(self, fn, where):
        name = f"{fn.__module__}.{fn.__qualname__}"
        if _library_member(fn):
            if not fn.__closure__:
                return {"function": name}
            return {"function": name, "closure": {n: self(v, f"closure variable {n!r} of {name}")
                                                  for n, v in _cells(fn).items()}}
        if id(fn) in self.active:  # recursion: the function is being described already
            return {"function": name, "recursive": True}
        self.active.add(id(fn))
        try:
            code = fn.__code__
            globals_ = {n: fn.__globals__[n] for n in sorted(_names(code)) if n in fn.__globals__}
            closure = _cells(fn)
            return {
                "function": name, **_function_code(fn),
                "defaults": self(list(fn.__defaults__ or ()), f"{name} defaults"),
                "kwdefaults": self(dict(fn.__kwdefaults__ or {}), f"{name} keyword defaults"),
                "globals": {n: self(v, f"global {n!r} read by {name}") for n, v in globals_.items()},
                "closure": {n: self(v, f"closure variable {n!r} of {name}") for n, v in closure.items()},
            }
        finally:
            self.active.discard(id(fn))

    def _class(self, cls, where):
        name = f"{cls.__module__}.{cls.__qualname__}"
        if _library_member(cls):
            return {"class": name}
        if id(cls) in self.active:
            return {"class": name, "recursive": True}
        self.active.add(id(cls))
        try:
            skip = {"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__", "__annotations__",
                    "__dataclass_fields__", "__dataclass_params__", "__match_args__", "__firstlineno__",
                    "__static_attributes__", "__hash__", "__slotnames__", "__parameters__", "__orig_bases__"}
            # Caches Python fills in lazily (copyreg's __slotnames__, abc's _abc_impl) are not content.
            members = {k: self(v, f"{where}.{k}") for k, v in sorted(vars(cls).items())
                       if k not in skip and not k.startswith("_abc_")}
            return {"class": name, "bases": [self(b, f"{where} base") for b in cls.__bases__ if b is not object],
                    "members": members}
        finally:
            self.active.discard(id(cls))

    def _pandas(self, value):
        pd = sys.modules.get("pandas")
        if pd is None or not isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
            return None
        hashed = pd.util.hash_pandas_object(value, index=not isinstance(value, pd.Index)).to_numpy()
        meta = [str(value.dtypes.to_dict()) if isinstance(value, pd.DataFrame) else str(value.dtype),
                list(map(str, value.columns)) if isinstance(value, pd.DataFrame) else str(value.name)]
        return {"pandas": type(value).__name__, "content": fingerprint(hashed), "meta": meta}

    def _keras(self, value, where):
        keras = sys.modules.get("keras")
        if keras is None:
            return None
        from .distribute import _is_engine, engine_identity

        if _is_engine(value):
            return {"distribution": engine_identity(value)}
        if isinstance(value, keras.Variable):
            return {"keras_variable": fingerprint(keras.ops.convert_to_numpy(value))}
        kind = type(value)
        if isinstance(value, keras.layers.Layer) or (kind.__module__.split(".")[0] == "keras"
                                                     and callable(getattr(value, "get_config", None))):
            # Layers and models, optimizers, losses, metrics, schedules, initializers, regularizers...
            out = {"keras": f"{kind.__module__}.{kind.__qualname__}",
                   "config": self(value.get_config(), f"{where} config")}
            if not _library_member(kind):
                out["class"] = self._class(kind, where)
            if isinstance(value, keras.layers.Layer):
                out["weights"] = fingerprint(*[np.asarray(w) for w in value.get_weights()])
            return out
        return None

    def _object(self, value, where):
        kind = type(value)
        if dataclasses.is_dataclass(value) or not _library_member(kind):
            getstate = getattr(value, "__getstate__", None)
            state = getstate() if callable(getstate) else getattr(value, "__dict__", None)
            if state is None and hasattr(kind, "__slots__"):
                state = {s: getattr(value, s) for s in kind.__slots__ if hasattr(value, s)}
            if state is not None:
                return {"object": self._class(kind, where), "state": self(state, f"{where} (state)")}
        raise TypeError(
            f"{where} is a {kind.__module__}.{kind.__qualname__}, which the results cache cannot key "
            "faithfully; the cache knows numbers, strings, containers, NumPy arrays, pandas objects, "
            "modules, functions and classes, Keras layers, models and optimizers, and objects of your own "
            "classes (by their state). Pass what the run needs as a configuration value, or build it "
            "inside the run function.")


def describe(value):
    """A JSON-serializable description of `value` that changes whenever its content does.

    Functions are described by their code (without comments and
    docstrings) and the values of the globals and closure variables they
    read, followed into the functions they call; installed libraries and
    dlgen itself are described by name (their versions and dlgen's training
    code are in every key, see `environment`). Arrays are described by
    content, objects of your own classes by their state, Keras layers and
    models by their configuration and weights.

    Raises:
        TypeError: for a value that cannot be described faithfully (e.g. an
            open file or a figure read by a run function); the message names it.

    Example:

    >>> SCALE = 2.0
    >>> def run(seed):
    ...     return SCALE * seed
    >>> before = describe(run)
    >>> SCALE = 3.0
    >>> describe(run) == before
    False
    """
    return _Describer()(value, "value")


# -- what every key holds: the code that trains, and the versions it runs on ----------------------

def code_digest(paths):
    """SHA-256 (16 hex digits) of Python files' code, without docstrings, comments or layout.

    Example:

    >>> import pathlib
    >>> pathlib.Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    >>> p = pathlib.Path(tmp_dir) / "m.py"
    >>> _ = p.write_text('def f():\\n    "Doc."\\n    return 1  # one\\n')
    >>> a = code_digest([p])
    >>> _ = p.write_text('def f():\\n    "Another doc."\\n    return 1\\n')
    >>> code_digest([p]) == a
    True
    """
    h = hashlib.sha256()
    for path in sorted(pathlib.Path(p) for p in paths):
        h.update(path.name.encode())
        h.update(_code_text(path.read_text()).encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _training_code_digest():
    here = pathlib.Path(__file__).parent
    return code_digest([here / f"{m}.py" for m in TRAINING_MODULES])


def environment():
    """What every key holds besides the run: dlgen's version and training code, Keras and its backend.

    Example:

    >>> sorted(environment())
    ['backend', 'dlgen', 'dlgen_training_code', 'keras']
    """
    import keras

    from . import __version__

    backend = keras.backend.backend()
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
    backend_version = "unknown"
    for name in (package, f"{package}-cpu"):
        try:
            backend_version = importlib.metadata.version(name)
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "dlgen": __version__,
        "dlgen_training_code": _training_code_digest(),
        "keras": keras.__version__,
        "backend": f"{backend} {backend_version}",
    }


def key_of(payload):
    """The key (32 hex digits) of a JSON-serializable payload.

    Example:

    >>> key_of({"seed": 0, "lr": 0.1}) == key_of({"lr": 0.1, "seed": 0})
    True
    """
    try:
        return _digest({"format": _FORMAT, "payload": payload})[:32]
    except (TypeError, ValueError) as e:
        raise TypeError(f"a cache key needs a JSON-serializable payload: {e}") from None


# -- the cache itself -------------------------------------------------------------------------

class ResultsCache:
    """A folder of JSON result files, one per key.

    Args:
        directory: the folder (`~` is expanded); created on first write.
            Defaults to `default_cache_dir()`.

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
        if directory is not None and not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a folder path, got {type(directory).__name__} {directory!r}.")
        self.directory = pathlib.Path(directory).expanduser() if directory is not None else default_cache_dir()

    def __repr__(self):
        return f"ResultsCache({str(self.directory)!r})"

    def key(self, payload):
        """The cache key of a JSON-serializable payload (see `key_of`)."""
        return key_of(payload)

    def path(self, key):
        return self.directory / f"{key}.json"

    def lock(self, key):
        """A lock (a `filelock.FileLock`, held across processes) for one key.

        Hold it while checking for an entry, computing it and storing it, so
        that two processes never compute the same entry twice.
        """
        import filelock

        self.directory.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(os.fspath(self.directory / f".{key}.lock"))

    def get(self, key, validate=None):
        """The stored value for `key`, or `None` if absent or not valid.

        Args:
            key: the key.
            validate: optional `validate(value)`, returning what `get`
                returns (e.g. `RunRecord.from_dict`); if it raises
                `KeyError`, `TypeError` or `ValueError`, the entry is not valid.

        An entry that does not parse, has the wrong key or checksum, or fails
        `validate` is reported with a warning and removed.
        """
        path = self.path(key)
        try:
            text = path.read_text()
        except FileNotFoundError:  # absent, or removed by another process since
            return None
        except (OSError, UnicodeDecodeError):
            text = None
        problem = None
        try:
            entry = json.loads(text) if text is not None else None
            if not (isinstance(entry, dict) and entry.get("format") == _FORMAT and entry.get("key") == key
                    and entry.get("sha256") == _digest(entry.get("value"))):
                problem = "it does not parse or fails its checksum"
        except ValueError:
            problem = "it does not parse or fails its checksum"
        if problem is None:
            value = entry["value"]
            if validate is None:
                return value
            try:
                return validate(value)
            except (KeyError, TypeError, ValueError) as e:
                problem = f"its content is not valid ({type(e).__name__}: {e})"
        warnings.warn(f"corrupt results-cache entry {path} removed ({problem}); it will be recomputed.",
                      stacklevel=2)
        path.unlink(missing_ok=True)
        return None

    def put(self, key, value):
        """Store a JSON-serializable value atomically (temp file, then rename)."""
        try:
            text = _canonical({"format": _FORMAT, "key": key, "sha256": _digest(value), "value": value})
        except (TypeError, ValueError) as e:
            raise TypeError(f"results-cache entries must be JSON-serializable: {e}") from None
        self.directory.mkdir(parents=True, exist_ok=True)
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
            p.unlink(missing_ok=True)


def as_cache(cache):
    """The cache a `cache=` argument names: `True` the default one, `False` or `None` none.

    A `ResultsCache` is returned as it is; anything else is a `TypeError`
    (a folder path is not taken silently: wrap it in `ResultsCache`).

    Example:

    >>> as_cache(False) is None, as_cache(ResultsCache("/tmp/c")).directory.name
    (True, 'c')
    """
    if cache is True:
        return ResultsCache()
    if cache is False or cache is None:
        return None
    if isinstance(cache, ResultsCache):
        return cache
    hint = f"; for a folder, pass dlgen.ResultsCache({cache!r})" if isinstance(cache, (str, os.PathLike)) else ""
    raise TypeError(f"cache must be True, False or a dlgen.ResultsCache, got {type(cache).__name__} "
                    f"{cache!r}{hint}.")

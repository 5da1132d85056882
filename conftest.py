"""Pytest configuration shared by the unit tests and the doctests in dlgen/."""

import importlib.util

import pytest

# Doctests of functions that need TensorFlow whatever the Keras backend.
TENSORFLOW_ONLY = {"dlgen.augment.augmentation_pipeline"}
# Doctests of data-parallel training, which dlgen offers on TensorFlow and JAX.
DATA_PARALLEL = {"dlgen.distribute.data_parallel", "dlgen.distribute.split_cpu"}


def _running_notebooks(config):
    return bool(config.getoption("nbval", False) or config.getoption("nbval_lax", False))


def pytest_configure(config):
    # The CPU is split into two devices before anything computes, so that the
    # data-parallel tests and doctests (dlgen.distribute) run on this machine.
    # Backends fix their devices when they start; nbval runs of the chapters
    # execute in their own kernels and need nothing here.
    if _running_notebooks(config):
        return
    import keras

    if keras.backend.backend() in ("tensorflow", "jax"):
        import dlgen

        dlgen.split_cpu(2)


def pytest_collection_modifyitems(config, items):
    skips = {}
    if importlib.util.find_spec("tensorflow") is None:
        skips.update(dict.fromkeys(TENSORFLOW_ONLY, "needs TensorFlow (pip install tensorflow-cpu)"))
    if not _running_notebooks(config):
        import keras

        if keras.backend.backend() not in ("tensorflow", "jax"):
            skips.update(dict.fromkeys(DATA_PARALLEL, "data-parallel training needs TensorFlow or JAX"))
    for item in items:
        if item.name in skips:
            item.add_marker(pytest.mark.skip(reason=skips[item.name]))


@pytest.fixture(autouse=True)
def _doctest_names(request):
    # Only doctests get names injected; notebook items (nbval) are untouched.
    if type(request.node).__name__ != "DoctestItem":
        return
    import numpy as np
    import pandas as pd

    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(np=np, pd=pd, tmp_dir=request.getfixturevalue("tmp_path") / "doctest-cache")

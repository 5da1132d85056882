"""Pytest configuration shared by the unit tests and the doctests in dlgen/."""

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(request):
    # Only doctests get names injected; notebook items (nbval) are untouched.
    if type(request.node).__name__ != "DoctestItem":
        return
    import numpy as np
    import pandas as pd

    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(np=np, pd=pd, tmp_dir=request.getfixturevalue("tmp_path") / "doctest-cache")

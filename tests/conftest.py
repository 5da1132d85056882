import pathlib

import matplotlib
import pytest

matplotlib.use("Agg")

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """No test reads or writes the user's results cache."""
    monkeypatch.setenv("DLGEN_CACHE", str(tmp_path / "dlgen-cache"))


@pytest.fixture
def fashion_dir():
    return FIXTURES / "fashion-mnist"

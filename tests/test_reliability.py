"""A chapter run twice in one kernel (Run All, then Run All again) gives the same numbers.

Readers do this all the time in JupyterLab and on Colab. It fails when a chapter
leaks state from its first run into its second: a global it mutates, a seed set
once, a device split or an engine that cannot be made twice.
"""

import copy
import pathlib

import keras
import nbformat
import pytest
from nbclient import NotebookClient

# Runs kernels, chapters or subprocesses: with the chapter runs, not the unit tests.
pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _glued(nb):
    """Every glued value (name -> its plain-text form), figures left out."""
    out = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = output["data"]
                text = data.get("application/papermill.record/text/plain", "")
                if "Figure" not in text:
                    out[name] = text
    return out


@pytest.mark.parametrize("chapter", [
    "02_backprop",
    pytest.param("16_data_parallel", marks=pytest.mark.skipif(
        keras.backend.backend() not in ("tensorflow", "jax"), reason="data-parallel training needs TensorFlow or JAX")),
])
def test_a_chapter_run_twice_in_one_kernel_gives_the_same_numbers(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("DLGEN_QUICK", "1")
    monkeypatch.setenv("DLGEN_CACHE", str(tmp_path / "cache"))
    path = ROOT / "notebooks" / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    runs = []
    with client.setup_kernel():
        for _ in range(2):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    cell.outputs = []
                    client.execute_cell(cell, index)
            runs.append(_glued(copy.deepcopy(nb)))
    first, second = runs
    assert len(first) >= 5, sorted(first)
    assert second == first, {k: (first[k], second.get(k)) for k in first if second.get(k) != first[k]}

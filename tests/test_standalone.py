"""A chapter copied alone into an empty folder runs, with dlgen installed from its wheel.

This is how Colab opens a chapter: one notebook, no repository beside it.
Anything the chapter reads from the repository (a run notebook, a fixture, a
relative path) fails here. dlgen is built as a wheel and installed into a
folder of its own that comes first on the kernel's path, so the chapter
cannot fall back on the working tree.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import nbformat
import papermill
import pytest

pytestmark = pytest.mark.integration

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Chapter 14 sweeps a run notebook; chapter 10 keeps pretrained weights in a cache.
CHAPTERS = ["14_model_selection", "10_transfer"]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory):
    """dlgen's wheel, built from this tree and installed into a folder of its own."""
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources, so that no build/ folder left in the tree can stand in for
    # what the package declares (and two test workers never build in one folder).
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "_build", "dist", ".venv*", "*.egg-info", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp / "dist"), str(source)], check=True)
    wheels = list((tmp / "dist").glob("dlgen-*.whl"))
    assert len(wheels) == 1, wheels
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(wheels[0])], check=True)
    assert (site / "dlgen" / "run_notebooks" / "14a_one_run.ipynb").is_file(), "the run notebook is not in the wheel"
    return site


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_alone_in_a_folder_runs_on_the_installed_wheel(chapter, installed_wheel, tmp_path, monkeypatch):
    alone = tmp_path / "alone"
    alone.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
    # A last cell reports where the kernel found dlgen.
    nb.cells.append(nbformat.v4.new_code_cell("import dlgen; print(dlgen.__file__)"))
    nbformat.write(nb, alone / f"{chapter}.ipynb")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(installed_wheel), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("DLGEN_QUICK", "1")
    monkeypatch.chdir(alone)
    out = papermill.execute_notebook(str(alone / f"{chapter}.ipynb"), str(alone / "out.ipynb"), cwd=str(alone),
                                     progress_bar=False, log_output=False)
    where = "".join(o.get("text", "") for o in out.cells[-1].outputs if o.get("name") == "stdout").strip()
    assert pathlib.Path(where).resolve().is_relative_to(installed_wheel.resolve()), \
        f"the chapter imported dlgen from {where}, not from the installed wheel"
    assert not pathlib.Path(where).resolve().is_relative_to(ROOT), where

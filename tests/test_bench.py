import importlib.util
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest

from dlgen import bench

# Runs kernels, chapters or subprocesses: with the chapter runs, not the unit tests.
pytestmark = pytest.mark.integration


def _tiny_notebook(path, fail=False):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nQUICK = os.environ['DLGEN_QUICK']", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = [0] * 1_000_000\n" + ("raise ValueError('boom')" if fail else "")),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_bench_times_each_notebook_and_mode(tmp_path, capsys):
    nb = _tiny_notebook(tmp_path / "01_tiny.ipynb")
    csv = tmp_path / "bench.csv"
    assert bench.main([str(nb), "--modes", "quick,full", "--csv", str(csv)]) == 0
    table = pd.read_csv(csv)
    assert list(table["mode"]) == ["quick", "full"]
    assert (table["seconds"] > 0).all() and (table["peak_mb"] > 10).all()
    assert "01_tiny.ipynb" in capsys.readouterr().out


def test_bench_reports_a_failing_notebook(tmp_path):
    nb = _tiny_notebook(tmp_path / "02_bad.ipynb", fail=True)
    csv = tmp_path / "bench.csv"
    assert bench.main([str(nb), "--modes", "quick", "--csv", str(csv)]) == 1
    assert "boom" in pd.read_csv(csv)["error"].iloc[0]


def test_bench_rejects_unknown_modes(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["x.ipynb", "--modes", "fast"])


def test_overhead_times_plain_keras_and_dlgen_on_the_same_work():
    res = bench.overhead(repeats=1, epochs=2, per_class=20)
    assert res["keras_s"] > 0 and res["dlgen_s"] > 0
    assert res["ratio"] == pytest.approx(res["dlgen_s"] / res["keras_s"])
    # The same seed trains the same network through both paths.
    assert res["dlgen_val_accuracy"] == pytest.approx(res["keras_val_accuracy"], abs=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("jax") is not None, reason="needs an environment without JAX")
def test_bench_runs_each_chapter_under_each_backend_and_reports_a_missing_one(tmp_path, capsys):
    nb = _tiny_notebook(tmp_path / "01_tiny.ipynb")
    csv = tmp_path / "bench.csv"
    # This interpreter has no JAX: the JAX run fails, is reported, and the table still has both rows.
    assert bench.main([str(nb), "--modes", "quick", "--backends", "tensorflow,jax",
                       "--python", f"jax={sys.executable}", "--csv", str(csv)]) == 1
    table = pd.read_csv(csv)
    assert list(table["backend"]) == ["tensorflow", "jax"]
    assert "jax" in table["error"].iloc[1] and table["seconds"].iloc[0] > 0
    wide = bench.per_backend(table)
    assert wide.loc["01_tiny.ipynb", "quick tensorflow"] == table["seconds"].iloc[0]
    assert np.isnan(wide.loc["01_tiny.ipynb", "quick jax/tf"])
    assert "quick jax/tf" in capsys.readouterr().out


def test_per_backend_gives_the_ratio_of_each_chapter_and_mode():
    table = pd.DataFrame({"notebook": ["a", "a", "b", "b", "a", "a"], "backend": ["tensorflow", "jax"] * 3,
                          "mode": ["quick"] * 4 + ["full"] * 2, "cache": ["cold"] * 6,
                          "seconds": [10.0, 4.0, 20.0, 30.0, 100.0, 50.0]})
    wide = bench.per_backend(table)
    assert wide.loc["a", "quick jax/tf"] == pytest.approx(0.4)
    assert wide.loc["b", "quick jax/tf"] == pytest.approx(1.5)
    assert wide.loc["a", "full jax/tf"] == pytest.approx(0.5)
    assert np.isnan(wide.loc["b", "full jax/tf"])


def test_bench_refuses_a_python_without_its_backend():
    with pytest.raises(SystemExit):
        bench.main(["x.ipynb", "--python", "jax"])


def test_profile_puts_every_sampled_second_in_one_category(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nimport numpy as np"),
        nbformat.v4.new_code_cell("fig, ax = plt.subplots()\nfor _ in range(30): ax.plot(np.random.rand(20000))"),
        nbformat.v4.new_code_cell("import time\ntime.sleep(0.5)"),
    ])
    path = tmp_path / "plots.ipynb"
    nbformat.write(nb, path)
    table = bench.profile(path)
    assert table["share"].sum() == pytest.approx(1.0, abs=0.1)
    # Drawing and saving the figure is plotting; the sleep is the notebook's own code.
    assert table.loc["plotting", "seconds"] > 0.05
    assert table.loc["other (NumPy, pandas, the notebook's own code)", "seconds"] >= 0.4


def test_bench_needs_notebooks_or_overhead(capsys):
    with pytest.raises(SystemExit):
        bench.main([])
    assert "give notebooks to time, or --overhead" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--overhead", "--repeats", "0"])
    assert "--repeats must be at least 1, got 0" in capsys.readouterr().err

"""dlgen.nbsweep: papermill sweeps over a run notebook, records read back from its outputs."""

import json
import os
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

import dlgen
from dlgen import nbsweep

# Runs kernels, chapters or subprocesses: with the chapter runs, not the unit tests.
pytestmark = pytest.mark.integration

# A run notebook small enough to execute in a test: it imports dlgen (the
# kernel must find it) and publishes a record whose numbers depend on the
# parameters, so the test can tell the runs apart.
RUN_SOURCE = [
    ("import dlgen", []),
    ("SCALE = 1.0\nSEED = 0\nFAIL = False\nPUBLISH = True", ["parameters"]),
    ("assert not FAIL, 'asked to fail'", []),
    ("history = {'loss': [1.0, 0.5 * SCALE], 'val_loss': [1.2, 0.7], 'accuracy': [0.5, 0.8], "
     "'val_accuracy': [0.4, 0.6 + SEED / 100]}\n"
     "payload = {'history': history, 'test': {'accuracy': 0.5 + SCALE / 10}, 'seconds': 0.1, 'params': 3, "
     "'config': {'scale': SCALE}, 'name': '', 'seed': SEED, 'train_eval': {}, 'extra': {'tag': 'x'}}\n"
     "import os\npayload['extra']['cwd'] = os.getcwd()", []),
    ("if PUBLISH:\n    dlgen.publish_record(payload)", []),
]


@pytest.fixture
def run_notebook(tmp_path):
    cells = []
    for source, tags in RUN_SOURCE:
        cell = new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    return path


def _output_node(payload, name="run", mime=nbsweep.RECORD_MIME):
    out = new_output("display_data", data={mime: payload, "text/plain": "x"}, metadata={"dlgen_record": name})
    return new_notebook(cells=[new_code_cell("x", outputs=[out])])


def test_read_records_finds_tagged_json_outputs_only():
    nb = _output_node({"a": 1})
    nb.cells.append(new_code_cell("y", outputs=[new_output("display_data", data={"application/json": {"b": 2}})]))
    assert dlgen.read_records(nb) == {"run": {"a": 1}}


def test_read_records_refuses_a_name_published_twice():
    nb = _output_node({"a": 1})
    nb.cells += _output_node({"a": 2}).cells
    with pytest.raises(ValueError, match="'run' twice"):
        dlgen.read_records(nb)


def test_publish_record_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError, match=r"the published record\['f'\] is a object, which a JSON record cannot hold"):
        dlgen.publish_record({"f": object()})
    with pytest.raises(TypeError, match="RunRecord or a dict"):
        dlgen.publish_record([1, 2])
    with pytest.raises(ValueError, match="identifiers"):
        dlgen.publish_record({"a": 1}, name="not a name")


def test_publish_record_shows_a_runrecord_as_json(capsys, monkeypatch):
    shown = []
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    record = dlgen.RunRecord(__import__("pandas").DataFrame({"loss": [1.0, 0.5]}), {"accuracy": 0.9}, 1.0, 5, {})
    payload = dlgen.publish_record(record, name="final")
    obj, kw = shown[0]
    assert kw == {"raw": True, "metadata": {"dlgen_record": "final"}}
    assert json.loads(json.dumps(obj[nbsweep.RECORD_MIME])) == payload
    assert dlgen.RunRecord.from_dict(payload).test == {"accuracy": 0.9}


def test_notebook_sweep_runs_each_config_and_seed_then_serves_the_cache(run_notebook, tmp_path, monkeypatch):
    out = tmp_path / "executed"
    configs = {"small": {"SCALE": 1.0}, "large": {"SCALE": 2.0}}
    here = os.getcwd()
    records = dlgen.notebook_sweep(run_notebook, configs, [0, 3], output_dir=out, jobs=2, progress=False)
    # Each kernel ran in the notebook's folder; this process's working directory did not move.
    assert os.getcwd() == here
    assert {r.extra.pop("cwd") for r in records} == {str(run_notebook.parent)}
    assert [(r.name, r.seed) for r in records] == [("small", 0), ("small", 3), ("large", 0), ("large", 3)]
    assert [r.test["accuracy"] for r in records] == pytest.approx([0.6, 0.6, 0.7, 0.7])
    assert [r.final("val_accuracy") for r in records] == pytest.approx([0.6, 0.63, 0.6, 0.63])
    # One copy per run, named by configuration, the first digits of the run's key, and seed.
    names = {re.sub(r"-[0-9a-f]{8}-", "-KEY-", p.name): p for p in out.iterdir()}
    assert sorted(names) == [
        "run-large-KEY-seed0.ipynb", "run-large-KEY-seed3.ipynb", "run-small-KEY-seed0.ipynb", "run-small-KEY-seed3.ipynb"]
    assert records[0].extra == {"tag": "x", "notebook": str(names["run-small-KEY-seed0.ipynb"])}
    # The executed copy holds the parameters papermill injected.
    executed = nbformat.read(names["run-large-KEY-seed3.ipynb"], as_version=4)
    injected = [c.source for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "SCALE = 2.0" in injected[0] and "SEED = 3" in injected[0]

    def no_execution(*args, **kwargs):
        raise AssertionError("a cached run was executed again")

    monkeypatch.setattr(nbsweep, "_execute", no_execution)
    again = dlgen.notebook_sweep(run_notebook, configs, [0, 3], output_dir=out, progress=False)
    assert [r.to_dict()["history"] for r in again] == [r.to_dict()["history"] for r in records]
    # A change of the notebook's code is a new experiment: the cache does not answer for it.
    nb = nbformat.read(run_notebook, as_version=4)
    nb.cells[3].source += "\n# changed"
    nbformat.write(nb, run_notebook)
    with pytest.raises(AssertionError, match="executed again"):
        dlgen.notebook_sweep(run_notebook, configs, [0], output_dir=out, progress=False)


def test_notebook_sweep_names_an_unknown_parameter_and_the_allowed_ones(run_notebook):
    with pytest.raises(ValueError, match=r"sets \['WIDTH'\].*parameters are \['FAIL', 'PUBLISH', 'SCALE', 'SEED'\]"):
        dlgen.notebook_sweep(run_notebook, {"bad": {"WIDTH": 3}}, [0], progress=False)
    with pytest.raises(ValueError, match="no parameter 'RANDOM_STATE'"):
        dlgen.notebook_sweep(run_notebook, {"ok": {}}, [0], seed_parameter="RANDOM_STATE", progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        dlgen.notebook_sweep(run_notebook, {}, [0], progress=False)
    with pytest.raises(FileNotFoundError, match="no run notebook"):
        dlgen.notebook_sweep(run_notebook.with_name("missing.ipynb"), {"ok": {}}, [0], progress=False)


def test_a_failed_run_leaves_neither_a_copy_nor_a_cache_entry(run_notebook, tmp_path):
    import papermill

    out = tmp_path / "executed"
    cache = dlgen.ResultsCache(tmp_path / "cache")
    with pytest.raises(papermill.PapermillExecutionError, match="asked to fail"):
        dlgen.notebook_sweep(run_notebook, {"boom": {"FAIL": True}}, [0], output_dir=out, cache=cache,
                             progress=False)
    with pytest.raises(RuntimeError, match="published no record named 'run'"):
        dlgen.notebook_sweep(run_notebook, {"mute": {"PUBLISH": False}}, [0], output_dir=out, cache=cache,
                             progress=False)
    assert list(out.iterdir()) == []
    assert list(cache.directory.glob("*.json")) == []


def test_configurations_with_one_slug_get_their_own_executed_copies(run_notebook, tmp_path):
    out = tmp_path / "executed"
    configs = {"wide, dropout": {"SCALE": 1.0}, "wide dropout": {"SCALE": 2.0}}
    records = dlgen.notebook_sweep(run_notebook, configs, [0], output_dir=out, cache=False, progress=False)
    copies = [r.extra["notebook"] for r in records]
    assert len(set(copies)) == 2 and all(os.path.exists(c) for c in copies)
    assert [nbformat.read(c, as_version=4) is not None for c in copies] == [True, True]
    assert [r.test["accuracy"] for r in records] == pytest.approx([0.6, 0.7])


def test_a_published_payload_that_is_not_a_record_is_not_cached(run_notebook, tmp_path):
    nb = nbformat.read(run_notebook, as_version=4)
    nb.cells[-1].source = "dlgen.publish_record({'history': 3})"
    nbformat.write(nb, run_notebook)
    cache = dlgen.ResultsCache(tmp_path / "cache")
    with pytest.raises(ValueError, match="published a record 'run' that is not a RunRecord"):
        dlgen.notebook_sweep(run_notebook, {"a": {}}, [0], output_dir=tmp_path / "out", cache=cache, progress=False)
    assert list(cache.directory.glob("*.json")) == []


def test_the_kernel_and_what_it_runs_are_in_the_key(run_notebook, tmp_path, monkeypatch):
    cache = dlgen.ResultsCache(tmp_path / "cache")
    real = nbsweep.kernel_environment("python3", str(run_notebook.parent))
    assert real["dlgen_training_code"] == dlgen.cache.environment()["dlgen_training_code"]
    dlgen.notebook_sweep(run_notebook, {"a": {}}, [0], output_dir=tmp_path / "out", cache=cache, progress=False)
    assert len(list(cache.directory.glob("*.json"))) == 1
    # A kernel that runs another Keras is another experiment.
    monkeypatch.setattr(nbsweep, "kernel_environment", lambda name, cwd: {**real, "keras": "3.0.0"})
    dlgen.notebook_sweep(run_notebook, {"a": {}}, [0], output_dir=tmp_path / "out", cache=cache, progress=False)
    assert len(list(cache.directory.glob("*.json"))) == 2
    with pytest.raises(TypeError, match="kernel_name must be the name of a Jupyter kernel, got 3"):
        dlgen.notebook_sweep(run_notebook, {"a": {}}, [0], kernel_name=3, progress=False)


def test_notebook_sweep_checks_seeds_and_configurations_like_run_sweep(run_notebook):
    with pytest.raises(TypeError, match=r"seeds must be a list .* got int 3"):
        dlgen.notebook_sweep(run_notebook, {"a": {}}, 3, progress=False)
    with pytest.raises(TypeError, match=r"configuration 'a'\['SCALE'\] is a object"):
        dlgen.notebook_sweep(run_notebook, {"a": {"SCALE": object()}}, [0], progress=False)

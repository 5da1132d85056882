"""The training doctor as a tool: the command line on real logs, the live callback, the pre-flight checks."""

import json
import subprocess
import sys
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

import dlgen
from dlgen.callbacks import DiagnoseCallback, DiagnosisWarning


def _task(seed=0, n=256, features=20, classes=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = ((x[:, :3].sum(axis=1) > 0).astype("int64") + 2 * (x[:, 3] > 0)) % classes
    return x, y


def _scaled(model, factor):
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w * factor for w in layer.get_weights()])
    return model


# -- pre-flight ------------------------------------------------------------

def test_preflight_passes_a_sound_setup_and_leaves_the_model_alone():
    x, y = _task()
    dlgen.set_seed(0)
    model = dlgen.build_mlp((20,), 4, depth=2, units=64)
    before = [w.copy() for w in model.get_weights()]
    report = dlgen.preflight(model, (x, y))
    assert report.passed, str(report)
    assert report["loss at initialization"]["value"] == pytest.approx(np.log(4), rel=0.25)
    assert report["inputs matter"]["value"] < 0.5
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert set(report.checks.columns) == {"check", "value", "passes if", "passed", "detail"}
    assert str(report).startswith("preflight: all checks pass")


def test_preflight_fails_a_dead_network_a_badly_scaled_one_and_blank_inputs():
    x, y = _task()
    dlgen.set_seed(0)
    dead = _scaled(dlgen.build_mlp((20,), 4, depth=2, units=64), 0.0)       # every weight zero
    failed = dlgen.preflight(dead, (x, y)).failed
    assert {"overfit one batch", "gradient flow", "dead units"} <= set(failed)
    dlgen.set_seed(0)
    loud = _scaled(dlgen.build_mlp((20,), 4, depth=2, units=64), 30.0)      # confidently wrong at the start
    assert "loss at initialization" in dlgen.preflight(loud, (x, y)).failed
    dlgen.set_seed(0)
    blank = dlgen.preflight(dlgen.build_mlp((20,), 4, depth=2, units=64), (np.zeros_like(x), y))
    assert "inputs matter" in blank.failed and "overfit one batch" in blank.failed


def test_preflight_reports_labels_and_refuses_bad_input():
    x, y = _task()
    dlgen.set_seed(0)
    model = dlgen.build_mlp((20,), 4, depth=1, units=16)
    only_three = dlgen.preflight(model, (x[y != 3], y[y != 3]))
    assert "labels" in only_three.failed and "[3]" in only_three["labels"]["detail"]
    with pytest.raises(ValueError, match="x has 256 examples but y has 10"):
        dlgen.preflight(model, (x, y[:10]))
    with pytest.raises(ValueError, match="y must be integer class labels"):
        dlgen.preflight(model, (x, y.astype("float32")))
    with pytest.raises(ValueError, match="data must be"):
        dlgen.preflight(model, x)
    with pytest.raises(KeyError, match="no check 'speed'"):
        dlgen.preflight(model, (x, y))["speed"]


# -- the callback ------------------------------------------------------------

def _compiled(model, rate=1e-3):
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_the_callback_warns_once_writes_the_verdict_and_stops_a_stuck_run():
    x, y = _task()
    dlgen.set_seed(0)
    dead = _compiled(_scaled(dlgen.build_mlp((20,), 4, depth=2, units=32), 0.0))
    doctor = DiagnoseCallback(stop=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = dead.fit(x, y, validation_data=(x, y), epochs=30, batch_size=64, verbose=0, callbacks=[doctor])
    said = [w for w in caught if issubclass(w.category, DiagnosisWarning)]
    assert len(said) == 1 and "'stuck'" in str(said[0].message)
    assert doctor.stopped_on == (5, "stuck") and len(history.history["loss"]) == 5
    assert history.history["diagnosis"] == ["not read yet"] * 4 + ["stuck"]
    assert doctor.diagnosis.verdict == "stuck" and doctor.diagnosis.evidence["classes"] == 4
    # without stop=True the run goes on, and the doctor keeps reading
    dlgen.set_seed(0)
    dead = _compiled(_scaled(dlgen.build_mlp((20,), 4, depth=2, units=32), 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DiagnosisWarning)
        history = dead.fit(x, y, validation_data=(x, y), epochs=7, batch_size=64, verbose=0,
                           callbacks=[DiagnoseCallback()])
    assert history.history["diagnosis"][-1] == "stuck" and len(history.history["loss"]) == 7


def test_the_callback_on_a_healthy_run_and_its_logs_in_a_csv_file(tmp_path):
    x, y = _task()
    dlgen.set_seed(0)
    model = _compiled(dlgen.build_mlp((20,), 4, depth=1, units=32), 3e-3)
    path = tmp_path / "log.csv"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=6, batch_size=32, verbose=0,
                  callbacks=[DiagnoseCallback(), keras.callbacks.CSVLogger(str(path))])
    assert not [w for w in caught if issubclass(w.category, DiagnosisWarning)]
    codes = pd.read_csv(path)["diagnosis"]
    assert [DiagnoseCallback.verdict_of(c) for c in codes[:4]] == ["not read yet"] * 4


def test_the_callback_refuses_bad_settings_and_a_fit_without_validation():
    with pytest.raises(ValueError, match=r"stop_on names unknown verdicts \['nan'\]"):
        DiagnoseCallback(stop_on=("nan",))
    with pytest.raises(ValueError, match="min_epochs must be an integer >= 3"):
        DiagnoseCallback(min_epochs=1)
    x, y = _task()
    model = _compiled(dlgen.build_mlp((20,), 4, depth=0))
    with pytest.raises(ValueError, match="DiagnoseCallback reads the validation loss"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[DiagnoseCallback()])


# -- the command line on logs written by a real fit ---------------------------

def _cli(*args):
    done = subprocess.run([sys.executable, "-m", "dlgen.diagnose", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A CSVLogger file and a TensorBoard directory of one overfitting run (random labels)."""
    pytest.importorskip("tensorboard")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("keras.callbacks.TensorBoard writes event files with TensorFlow")
    folder = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 20)).astype("float32"), rng.integers(0, 3, 60)
    xv, yv = rng.normal(size=(60, 20)).astype("float32"), rng.integers(0, 3, 60)
    dlgen.set_seed(0)
    model = dlgen.build_mlp((20,), 3, depth=2, units=128)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["sparse_categorical_accuracy"])
    history = model.fit(x, y, validation_data=(xv, yv), epochs=40, batch_size=16, verbose=0,
                        callbacks=[keras.callbacks.CSVLogger(str(folder / "log.csv")),
                                   keras.callbacks.TensorBoard(str(folder / "tb"))])
    (folder / "history.json").write_text(json.dumps({k: [float(v) for v in vs] for k, vs in history.history.items()}))
    return folder, history


@pytest.mark.integration
def test_the_command_line_reads_a_csvlogger_file_a_tensorboard_directory_and_json(logs):
    folder, history = logs
    expected = dlgen.diagnose(history)
    assert expected.evidence["metric"] == "sparse_categorical_accuracy" and not expected.healthy
    for path in (folder / "log.csv", folder / "tb", folder / "history.json"):
        code, out, err = _cli(path, "--json", "--classes", "3")
        assert code == 1, err
        got = json.loads(out)
        assert got["verdict"] == dlgen.diagnose(history, classes=3).verdict
        assert got["evidence"]["best_val_epoch"] == expected.evidence["best_val_epoch"]
        assert got["evidence"]["epochs"] == 40
    code, out, _ = _cli(folder / "log.csv")
    assert out.startswith(f"verdict: {expected.verdict}") and "remedies, best first:" in out
    tb = dlgen.read_history(folder / "tb")
    assert np.allclose(tb["val_loss"], history.history["val_loss"], rtol=1e-5)


@pytest.mark.integration
def test_the_command_line_says_healthy_with_exit_status_0_and_refuses_bad_input_in_one_line(tmp_path):
    E = np.arange(1, 21, dtype=float)
    healthy = pd.DataFrame({"epoch": range(20), "loss": 0.05 + 0.5 * np.exp(-E), "accuracy": np.full(20, 0.98),
                            "val_loss": 0.07 + 0.5 * np.exp(-E), "val_accuracy": np.full(20, 0.97)})
    healthy.to_csv(tmp_path / "ok.csv", index=False)
    code, out, _ = _cli(tmp_path / "ok.csv")
    assert code == 0 and out.startswith("verdict: healthy")
    healthy.drop(columns="val_loss").to_csv(tmp_path / "noval.csv", index=False)
    healthy.iloc[:1].to_csv(tmp_path / "one.csv", index=False)
    healthy.assign(loss=np.nan, val_loss=np.nan).to_csv(tmp_path / "nan.csv", index=False)
    (tmp_path / "empty").mkdir()
    for path, message in [(tmp_path / "missing.csv", "no such file or directory"),
                          (tmp_path / "noval.csv", "history lacks the column(s) ['val_loss']"),
                          (tmp_path / "one.csv", "history has 1 epoch(s)"),
                          (tmp_path / "nan.csv", "NaN or infinite in every epoch"),
                          (tmp_path / "empty", "holds no TensorBoard event files")]:
        code, out, err = _cli(path)
        assert code == 2 and out == "", (path, out, err)
        assert message in err and len(err.strip().splitlines()) == 1, err

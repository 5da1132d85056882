"""dlgen.evaluate and dlgen.predict give model.evaluate's and model.predict's numbers; dlgen.fit's
validation through them gives model.fit's history."""

import keras
import numpy as np
import pytest

import dlgen
from dlgen.evaluation import _chunks
from dlgen.training import _steps_per_execution


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] + 0.3 * rng.normal(size=n) > 0).astype(int)


def _model(metrics=("accuracy",)):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=list(metrics))
    return m


@pytest.mark.parametrize("batch_size", [7, 64, 1000])
def test_evaluate_matches_model_evaluate_for_any_split_of_the_set(batch_size):
    x, y = _data()
    m = _model()
    m.fit(x, y, epochs=2, verbose=0)
    fast = dlgen.evaluate(m, x, y, batch_size=batch_size)
    slow = m.evaluate(x, y, verbose=0, return_dict=True)
    assert set(fast) == set(slow)
    for k in slow:
        assert fast[k] == pytest.approx(slow[k], abs=1e-5)


def test_a_metric_that_is_not_a_mean_goes_through_model_evaluate():
    x, y = _data()
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    # The AUC of a set is not the mean of its parts' AUCs: in parts of 7 only model.evaluate is right.
    fast = dlgen.evaluate(m, x, y, batch_size=7)
    slow = m.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    assert fast["auc"] == pytest.approx(slow["auc"], abs=1e-6)


def test_the_parts_are_nearly_equal_and_cover_the_set():
    parts = _chunks(2050, 1024)
    assert [p.stop - p.start for p in parts] == [683, 684, 683]
    assert parts[0].start == 0 and parts[-1].stop == 2050
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
    assert _chunks(10, 1024) == [slice(0, 10)]


def test_predict_matches_model_predict():
    x, _ = _data(50)
    m = _model()
    np.testing.assert_allclose(dlgen.predict(m, x, batch_size=16), m.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("call", [lambda m, x, y: dlgen.evaluate(m, x[:0], y[:0]),
                                  lambda m, x, y: dlgen.evaluate(m, x, y[:-1]),
                                  lambda m, x, y: dlgen.evaluate(m, x, y, batch_size=0),
                                  lambda m, x, y: dlgen.predict(m, x[:0])])
def test_bad_input_is_a_clear_error(call):
    x, y = _data(20)
    with pytest.raises(ValueError, match="empty|examples but|batch_size must be"):
        call(_model(), x, y)


def test_fit_history_equals_model_fit_with_validation_data():
    x, y = _data(400)
    train, val = (x[:300], y[:300]), (x[300:], y[300:])
    plain = _model()
    h = plain.fit(*train, validation_data=val, epochs=4, batch_size=32, verbose=0).history
    rec = dlgen.fit(_model(), train, val, epochs=4, batch_size=32,
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(rec.history[column], h[column], atol=1e-5, err_msg=column)


def test_callbacks_see_the_validation_metrics_of_the_epoch():
    x, y = _data(400)
    stop = keras.callbacks.EarlyStopping("val_loss", patience=0, restore_best_weights=True)
    seen = []
    probe = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["val_loss"]))
    rec = dlgen.fit(_model(), (x[:300], y[:300]), (x[300:], y[300:]), epochs=3, callbacks=[stop, probe])
    assert seen == list(rec.history["val_loss"])


class _BatchCounter(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_a_callback_on_batches_gets_every_batch():
    x, y = _data(300)
    counter = _BatchCounter()
    dlgen.fit(_model(), (x, y), epochs=2, batch_size=30, callbacks=[counter])
    assert counter.batches == 20
    assert _steps_per_execution([counter], 300, 30) == 1
    assert _steps_per_execution([keras.callbacks.EarlyStopping()], 300, 30) == 10
    # A LambdaCallback sets its batch hooks on the instance.
    assert _steps_per_execution([keras.callbacks.LambdaCallback(on_train_batch_end=print)], 300, 30) == 1
    assert _steps_per_execution([keras.callbacks.LambdaCallback(on_epoch_end=print)], 300, 30) == 10


def test_root_mean_squared_error_is_not_averaged_over_parts():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (x.sum(axis=1) + rng.normal(size=200) * np.linspace(0, 3, 200)).astype("float32")
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    m.compile("sgd", "mse", metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
    # The RMSE of the set is not the size-weighted mean of the parts' RMSEs (the noise grows along the set).
    fast = dlgen.evaluate(m, x, y, batch_size=50)
    slow = m.evaluate(x, y, batch_size=50, verbose=0, return_dict=True)
    assert fast["rmse"] == pytest.approx(slow["rmse"], rel=1e-5)


_ONE_RUN = """
import json, sys
import numpy as np
import dlgen
rng = np.random.default_rng(0)
x = rng.normal(size=(300, 8)).astype("float32"); y = (x[:, 0] > 0).astype(int)
dlgen.set_seed(3)
model = dlgen.build_mlp((8,), 2, depth=2, units=32, dropout=0.2)
rec = dlgen.fit(model, (x[:200], y[:200]), (x[200:], y[200:]), (x[200:], y[200:]), epochs=3, batch_size=32, seed=3)
d = rec.to_dict()
d.pop("seconds"); d["history"].pop("epoch_seconds")
print(json.dumps(d))
"""


@pytest.mark.integration
def test_the_same_seed_gives_the_same_record_in_two_processes():
    import json
    import subprocess
    import sys

    outs = [json.loads(subprocess.run([sys.executable, "-c", _ONE_RUN], capture_output=True, text=True,
                                      check=True).stdout.strip().splitlines()[-1]) for _ in range(2)]
    assert outs[0] == outs[1]
    assert len(outs[0]["history"]["val_loss"]) == 3 and outs[0]["test"]

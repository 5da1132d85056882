"""Data-parallel training on the backend's engine (the CPU is split in two by conftest.py)."""

import keras
import numpy as np
import pytest

import dlgen
from dlgen.models import build_mlp

pytestmark = pytest.mark.skipif(keras.backend.backend() not in ("tensorflow", "jax"),
                                reason="data-parallel training needs TensorFlow or JAX")


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


def _model(seed=0):
    dlgen.set_seed(seed)
    return build_mlp((12,), 2, depth=2, units=16)


def test_the_cpu_is_split_and_the_engine_uses_every_device():
    assert len(dlgen.split_cpu(2)) == 2  # a second call with the same count is a no-op
    assert dlgen.replicas(dlgen.data_parallel()) == 2
    assert dlgen.replicas(None) == 1


def test_one_data_parallel_step_equals_one_single_device_step():
    # Two replicas each take half the batch; their averaged gradient is the
    # gradient of the whole batch, so one SGD step lands on the same weights.
    x, y = _data()
    single, parallel = _model(), _model()
    start = [w.copy() for w in single.get_weights()]
    kw = dict(epochs=1, batch_size=len(x), optimizer="SGD", learning_rate=0.5, evaluate_train=False)
    dlgen.fit(single, (x, y), **kw)
    rec = dlgen.fit(parallel, (x, y), distribution="data_parallel", **kw)
    moved = max(np.abs(a - b).max() for a, b in zip(start, single.get_weights()))
    diff = max(np.abs(a - b).max() for a, b in zip(single.get_weights(), parallel.get_weights()))
    assert moved > 1e-3
    assert diff < 1e-5 * max(1.0, moved), diff
    assert rec.config["replicas"] == 2


@pytest.mark.integration
def test_data_parallel_training_learns_and_the_callers_model_gets_the_weights():
    x, y = _data(600)
    model = _model()
    rec = dlgen.fit(model, (x[:400], y[:400]), validation=(x[400:], y[400:]), test=(x[400:], y[400:]),
                    epochs=8, batch_size=32, optimizer=keras.optimizers.Adam(0.01),
                    distribution=dlgen.data_parallel())
    assert rec.test["accuracy"] > 0.9
    assert sorted(rec.history.columns) == ["accuracy", "epoch_seconds", "loss", "val_accuracy", "val_loss"]
    # the caller's model holds the trained weights and is compiled, ready to evaluate
    assert model.evaluate(x[400:], y[400:], verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        rec.test["accuracy"], abs=1e-6)
    assert dlgen.accuracy(model, x[400:], y[400:]) == pytest.approx(rec.test["accuracy"], abs=1e-6)


@pytest.mark.parametrize("bad", ["mirrored", 2, object()])
def test_a_bad_distribution_is_named_with_the_allowed_ones(bad):
    x, y = _data(32)
    with pytest.raises(ValueError, match=r"distribution must be None, one of \('data_parallel', 'multi_worker'\)"):
        dlgen.fit(_model(), (x, y), epochs=1, distribution=bad)


def test_bad_engine_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        dlgen.data_parallel("ring")
    with pytest.raises(ValueError, match="devices must be a non-empty list"):
        dlgen.data_parallel(devices=[])
    with pytest.raises(ValueError, match="n must be"):
        dlgen.split_cpu(0)


def test_a_split_after_the_backend_started_is_refused_with_the_way_out():
    with pytest.raises(RuntimeError, match=r"already started with 2.*restart the kernel"):
        dlgen.split_cpu(3)


@pytest.mark.integration
def test_models_of_different_shapes_train_one_after_the_other():
    # One engine serves every model: on TensorFlow a second strategy training
    # another shape would fail in its all-reduce (tensorflow/tensorflow#62790).
    x, y = _data(64)
    assert dlgen.data_parallel() is dlgen.data_parallel()
    for units in (8, 24, 8):
        dlgen.set_seed(0)
        model = build_mlp((12,), 2, depth=1, units=units, batch_norm=True)
        rec = dlgen.fit(model, (x, y), epochs=1, batch_size=32, distribution="data_parallel")
        assert np.isfinite(rec.history["loss"]).all()


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="synchronized batch norm is TensorFlow's")
@pytest.mark.integration
def test_synchronized_batch_norm_makes_the_step_match_one_device():
    x, y = _data()
    kw = dict(epochs=1, batch_size=len(x), optimizer="SGD", learning_rate=0.5, evaluate_train=False)
    diffs = {}
    for bn in (True, "synchronized"):
        dlgen.set_seed(0)
        single = build_mlp((12,), 2, depth=2, units=16, batch_norm=bn)
        dlgen.set_seed(0)
        parallel = build_mlp((12,), 2, depth=2, units=16, batch_norm=bn)
        dlgen.fit(single, (x, y), **kw)
        dlgen.fit(parallel, (x, y), distribution="data_parallel", **kw)
        diffs[bn] = max(np.abs(a - b).max() for a, b in zip(single.get_weights(), parallel.get_weights()))
    # each replica normalizes its half of the batch with its own statistics
    assert diffs[True] > 1e-4 > 1e-5 > diffs["synchronized"], diffs


def test_build_mlp_rejects_an_unknown_batch_norm():
    with pytest.raises(ValueError, match="batch_norm must be False, True or 'synchronized', got 'sync'"):
        build_mlp((12,), 2, batch_norm="sync")

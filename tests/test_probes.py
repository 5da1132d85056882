import keras
import numpy as np
import pytest

import dlgen


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 5)).astype("float32"), rng.integers(0, 3, size=32)


def test_activation_stats_rows_and_values(batch):
    x, _ = batch
    m = dlgen.build_mlp((5,), 3, depth=2, units=6, kernel_initializer="zeros")
    stats = dlgen.activation_stats(m, x, ["act_1", "act_2", "logits"])
    assert list(stats["depth"]) == [1, 2, 3]
    assert (stats["std"] == 0).all() and (stats["frac_zero"] == 1).all()
    default = dlgen.activation_stats(m, x)
    assert "flatten" not in set(default["layer"]) and "dense_1" in set(default["layer"])
    with pytest.raises(ValueError, match=r"no layers named \['nope'\]"):
        dlgen.activation_stats(m, x, ["nope"])


def test_gradients_match_finite_differences(batch):
    x, y = batch
    dlgen.set_seed(0)
    m = dlgen.build_mlp((5,), 3, depth=1, units=4, activation="tanh")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    g = dlgen.gradients(m, x, y, loss)
    kernel = m.get_layer("dense_1").kernel
    w = keras.ops.convert_to_numpy(kernel).astype("float64")
    eps = 1e-3
    for i, j in [(0, 0), (2, 3), (4, 1)]:
        values = []
        for sign in (1, -1):
            w2 = w.copy()
            w2[i, j] += sign * eps
            kernel.assign(w2.astype("float32"))
            values.append(float(keras.ops.convert_to_numpy(loss(y, m(x)))))
        kernel.assign(w.astype("float32"))
        numeric = (values[0] - values[1]) / (2 * eps)
        assert g["dense_1/kernel"][i, j] == pytest.approx(numeric, rel=2e-2, abs=1e-4)


def test_gradients_errors(batch):
    x, y = batch
    with pytest.raises(ValueError, match="x has 32 examples but y has 31"):
        dlgen.gradients(dlgen.build_mlp((5,), 3, depth=0), x, y[:-1])


def test_gradient_stats_vanish_under_zero_init(batch):
    x, y = batch
    m = dlgen.build_mlp((5,), 3, depth=2, units=4, kernel_initializer="zeros")
    s = dlgen.gradient_stats(m, x, y)
    assert list(s["layer"]) == ["dense_1", "dense_2", "logits"]
    assert (s.loc[s["layer"] != "logits", "norm"] == 0).all()  # ReLU(0) passes no gradient
    assert s["norm"].iloc[-1] == 0  # the inputs of the output layer are all zero too
    assert len(dlgen.gradient_stats(m, x, y, kernels_only=False)) == 6


def test_layers_do_not_share_an_initializer_instance():
    init = keras.initializers.RandomNormal(stddev=0.01)
    m = dlgen.build_mlp((6,), 2, depth=3, units=6, kernel_initializer=init)
    k2 = keras.ops.convert_to_numpy(m.get_layer("dense_2").kernel)
    k3 = keras.ops.convert_to_numpy(m.get_layer("dense_3").kernel)
    assert not np.array_equal(k2, k3)
    assert 0.005 < k2.std() < 0.02

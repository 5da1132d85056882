import numpy as np
import pytest

import dlgen


def test_build_mlp_shapes_names_and_knobs():
    m = dlgen.build_mlp((28, 28, 1), 10, depth=3, units=16, dropout=0.3, batch_norm=True, name="net")
    assert m.name == "net" and m.output_shape == (None, 10)
    names = [layer.name for layer in m.layers]
    assert sum(n.startswith("dense_") for n in names) == 3
    assert sum(n.startswith("dropout_") for n in names) == 3
    assert sum(n.startswith("bn_") for n in names) == 3
    assert not m.compiled


def test_build_mlp_depth_zero_is_linear():
    m = dlgen.build_mlp((4,), 3, depth=0)
    assert m.count_params() == 4 * 3 + 3


def test_build_mlp_regularizers_add_losses():
    m = dlgen.build_mlp((4,), 2, depth=1, units=3, l2=1e-2)
    m(np.ones((1, 4), "float32"))
    assert len(m.losses) == 2  # hidden and output kernels


def test_build_mlp_initializer_is_used():
    m = dlgen.build_mlp((4,), 2, depth=1, units=3, kernel_initializer="zeros")
    assert not np.any(m.get_layer("dense_1").get_weights()[0])


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, "0.5", True])
def test_bad_dropout_rate(rate):
    with pytest.raises(ValueError, match=r"dropout rate must be a number in \[0, 1\)"):
        dlgen.build_mlp(dropout=rate)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"depth": -1}, "depth must be a non-negative integer"),
        ({"units": 0}, "units must be a positive integer"),
        ({"l2": -1}, "l2 must be a non-negative number"),
        ({"input_shape": (28, -1)}, "input_shape must be a tuple"),
    ],
)
def test_bad_mlp_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dlgen.build_mlp(**kwargs)


def test_build_cnn():
    m = dlgen.build_cnn((28, 28, 1), filters=(4, 8), dense_units=16, dropout=0.5, batch_norm=True)
    assert m.output_shape == (None, 10)
    assert m.get_layer("pool_2").output.shape[1:] == (7, 7, 8)
    assert dlgen.build_cnn((8, 8, 1), filters=(2,), dense_units=0).output_shape == (None, 10)


def test_bad_cnn_arguments():
    with pytest.raises(ValueError, match="filters must be a non-empty sequence"):
        dlgen.build_cnn(filters=())
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)"):
        dlgen.build_cnn(input_shape=(28, 28))

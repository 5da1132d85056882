import keras
import numpy as np
import pytest

import dlgen


@pytest.mark.parametrize("make", [dlgen.ill_conditioned_quadratic, dlgen.rosenbrock, dlgen.saddle])
def test_gradients_match_finite_differences(make):
    s = make()
    rng = np.random.default_rng(0)
    for p in rng.uniform(-1, 1, size=(5, 2)):
        h = 1e-6
        num = [(s.f(p + h * e) - s.f(p - h * e)) / (2 * h) for e in np.eye(2)]
        assert np.allclose(s.grad(p), num, rtol=1e-5, atol=1e-5)
    assert np.allclose(s.grad(np.array(s.minimum)), 0.0)
    assert s.gap(s.minimum) == 0.0


def test_sgd_path_follows_the_update_rule():
    s = dlgen.ill_conditioned_quadratic(10.0)
    lr = 0.05
    path = dlgen.trajectory(s, keras.optimizers.SGD(lr), start=(1.0, 1.0), steps=5)
    p = np.array([1.0, 1.0])
    for i in range(1, 6):
        p = p - lr * s.grad(p)
        assert np.allclose(path[i], p, rtol=1e-5)


def test_momentum_beats_sgd_on_the_valley_and_divergence_stops_the_path():
    s = dlgen.ill_conditioned_quadratic(50.0)
    sgd = dlgen.trajectory(s, keras.optimizers.SGD(0.03), steps=300)
    mom = dlgen.trajectory(s, keras.optimizers.SGD(0.01, momentum=0.9), steps=300)
    assert dlgen.steps_to_tolerance(s, mom, 1e-3) < dlgen.steps_to_tolerance(s, sgd, 1e-3)
    blown = dlgen.trajectory(s, keras.optimizers.SGD(1e3), steps=50)
    assert np.isnan(blown[-1]).all()
    assert dlgen.steps_to_tolerance(s, blown, 1e-3) is None


def test_trajectory_checks_its_arguments():
    s = dlgen.saddle()
    with pytest.raises(ValueError, match="Optimizer"):
        dlgen.trajectory(s, "adam")
    with pytest.raises(ValueError, match="steps"):
        dlgen.trajectory(s, keras.optimizers.SGD(0.1), steps=-1)
    with pytest.raises(ValueError, match="start"):
        dlgen.trajectory(s, keras.optimizers.SGD(0.1), start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="tol"):
        dlgen.steps_to_tolerance(s, np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="condition"):
        dlgen.ill_conditioned_quadratic(0.5)


def test_plot_surface_draws_each_path():
    s = dlgen.rosenbrock()
    paths = {"a": np.array([[0.0, 0.0], [0.5, 0.5]]), "b": np.array([[1.0, 0.0], [1.0, 1.0]])}
    ax = dlgen.plot_surface(s, paths)
    labels = [line.get_label() for line in ax.lines]
    assert "a" in labels and "b" in labels


def test_trajectory_cache_serves_the_same_path_and_keys_on_the_surface(tmp_path):
    cache = dlgen.ResultsCache(tmp_path)
    quad = dlgen.ill_conditioned_quadratic(10)
    first = dlgen.trajectory(quad, keras.optimizers.SGD(0.05), steps=20, cache=cache)
    assert len(list(tmp_path.glob("*.json"))) == 1
    again = dlgen.trajectory(quad, keras.optimizers.SGD(0.05), steps=20, cache=cache)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, dlgen.trajectory(quad, keras.optimizers.SGD(0.05), steps=20), atol=1e-7)
    # another condition number, another rate, another optimizer: new entries, not the cached path
    dlgen.trajectory(dlgen.ill_conditioned_quadratic(100), keras.optimizers.SGD(0.05), steps=20, cache=cache)
    dlgen.trajectory(quad, keras.optimizers.SGD(0.01), steps=20, cache=cache)
    dlgen.trajectory(quad, keras.optimizers.Adam(0.05), steps=20, cache=cache)
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_a_cached_diverging_trajectory_keeps_its_nans(tmp_path):
    cache = dlgen.ResultsCache(tmp_path)
    quad = dlgen.ill_conditioned_quadratic(10)
    path = dlgen.trajectory(quad, keras.optimizers.SGD(5.0), steps=200, cache=cache)
    again = dlgen.trajectory(quad, keras.optimizers.SGD(5.0), steps=200, cache=cache)
    assert np.isnan(path[-1]).all()
    np.testing.assert_array_equal(np.isnan(path), np.isnan(again))
    np.testing.assert_array_equal(path[np.isfinite(path)], again[np.isfinite(again)])

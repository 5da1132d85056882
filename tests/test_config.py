import numpy as np
import pytest

import dlgen
from dlgen import config


@pytest.mark.parametrize("value,expected", [("1", True), ("true", True), ("ON", True),
                                            ("0", False), ("", False), ("no", False)])
def test_is_quick_reads_the_variable(value, expected):
    assert dlgen.is_quick({"DLGEN_QUICK": value}) is expected


def test_is_quick_unset_means_full():
    assert dlgen.is_quick({}) is False


def test_is_quick_rejects_unknown_values():
    with pytest.raises(ValueError, match=r"DLGEN_QUICK='maybe'.*quick"):
        dlgen.is_quick({"DLGEN_QUICK": "maybe"})


def test_budget_picks_by_mode(monkeypatch):
    assert dlgen.budget(quick=1, full=2, env={"DLGEN_QUICK": "1"}) == 1
    assert dlgen.budget(quick=1, full=2, env={}) == 2
    monkeypatch.setenv("DLGEN_QUICK", "1")
    assert dlgen.budget(3, 4) == 3


def test_set_seed_makes_draws_repeat():
    import keras

    dlgen.set_seed(3)
    a = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.normal((2,))))
    dlgen.set_seed(3)
    b = (np.random.rand(), keras.ops.convert_to_numpy(keras.random.normal((2,))))
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_set_seed_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        dlgen.set_seed(bad)


def test_setup_notebook_reports_environment(monkeypatch):
    import matplotlib as mpl

    monkeypatch.setenv("DLGEN_QUICK", "1")
    info = dlgen.setup_notebook(seed=1, dpi=77)
    assert info["budget"] == "quick" and info["seed"] == 1
    assert info["backend"] in ("tensorflow", "jax", "torch")
    assert mpl.rcParams["figure.dpi"] == 77


def test_silenced_fd2_restores_stderr(capfd):
    import os

    with config._silenced_fd2():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    err = capfd.readouterr().err
    assert "hidden" not in err and "shown" in err

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import dlgen


def _recs():
    out = []
    for name in ("a", "b"):
        for seed in range(3):
            h = pd.DataFrame({"accuracy": np.linspace(0.5, 1, 4) - seed / 100,
                              "val_accuracy": np.linspace(0.5, 0.8, 4)})
            out.append(dlgen.RunRecord(h, {}, 0.0, 1, {}, name, seed))
    return out


def test_plot_history_draws_mean_curves_with_bands():
    fig, ax = plt.subplots()
    out = dlgen.plot_history(_recs(), ax=ax, colors={"a": "red"})
    assert out is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["a (train)", "a (val)", "b (train)", "b (val)"]
    assert ax.get_lines()[1].get_linestyle() == "--"
    assert ax.get_lines()[0].get_color() == "red"
    assert len(ax.collections) == 4  # one band per curve
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata()[-1], 1 - 0.01)
    plt.close(fig)


def test_plot_history_errors():
    with pytest.raises(ValueError, match="no records"):
        dlgen.plot_history([])
    with pytest.raises(KeyError, match="no column 'auc'"):
        dlgen.plot_history(_recs(), metric="auc")


def test_plot_images_makes_one_axes():
    ax = dlgen.plot_images(np.zeros((5, 4, 4), np.uint8), labels=[0, 1, 2, 3, 4], ncols=3)
    assert ax.images[0].get_array().shape == (2 * (4 + 2), 3 * 6 - 2)  # label room above each row
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2", "3", "4"]
    ax = dlgen.plot_images(np.zeros((2, 4, 4, 1)), labels=[0, 9], class_names=dlgen.FASHION_MNIST_CLASSES)
    assert ax.texts[1].get_text() == "Ankle boot"
    with pytest.raises(ValueError, match="got 2 images but 1 labels"):
        dlgen.plot_images(np.zeros((2, 4, 4)), labels=[1])
    plt.close("all")


def test_plot_sweep():
    frame = pd.DataFrame({"rate": [0, 0, 0.5, 0.5], "acc": [0.8, 0.9, 0.7, 0.7]})
    ax = dlgen.plot_sweep(frame, "rate", "acc")
    line = ax.get_lines()[0]
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [0.85, 0.7])
    assert ax.get_xlabel() == "rate"
    with pytest.raises(KeyError, match="no column 'x'"):
        dlgen.plot_sweep(frame, "x", "acc")
    with pytest.raises(TypeError, match="pandas DataFrame"):
        dlgen.plot_sweep({"rate": []}, "rate", "acc")
    plt.close("all")


def test_glue_returns_the_value_and_takes_a_dict(monkeypatch):
    import myst_nb

    stored = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.__setitem__(name, value))
    assert dlgen.glue("answer", 42) == 42
    dlgen.glue({"a": np.float64(0.5), "b": "x"})
    assert stored == {"answer": 42, "a": 0.5, "b": "x"} and type(stored["a"]) is float
    with pytest.raises(ValueError, match="glue names must be identifiers, got 'not a name'"):
        dlgen.glue("not a name", 1)

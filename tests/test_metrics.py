import numpy as np
import pandas as pd
import pytest

import dlgen


def test_reliability_of_a_calibrated_model_is_on_the_diagonal():
    rng = np.random.default_rng(0)
    n = 20_000
    # Two classes; the model says p(class 0) = c and is right with probability c.
    conf = rng.uniform(0.5, 1.0, n)
    y = np.where(rng.random(n) < conf, 0, 1)
    probs = np.stack([conf, 1 - conf], axis=1)
    table = dlgen.reliability(probs, y, n_bins=10)
    assert table["count"].sum() == n
    assert np.allclose(table["accuracy"], table["confidence"], atol=0.03)
    assert dlgen.expected_calibration_error(probs, y) < 0.02


def test_overconfident_model_has_large_ece_and_points_below_the_diagonal():
    y = np.array([0, 1] * 50)
    probs = np.tile([[0.99, 0.01]], (100, 1))  # always class 0, right half the time
    table = dlgen.reliability(probs, y)
    assert len(table) == 1 and table["accuracy"].iloc[0] == 0.5
    assert dlgen.expected_calibration_error(probs, y) == pytest.approx(0.49)


def test_reliability_rejects_logits_and_bad_labels():
    with pytest.raises(ValueError, match="probabilities"):
        dlgen.reliability(np.array([[2.0, -1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="class indices"):
        dlgen.reliability(np.array([[0.5, 0.5]]), np.array([2]))
    with pytest.raises(ValueError, match="2-D"):
        dlgen.reliability(np.array([0.5, 0.5]), np.array([0, 1]))
    with pytest.raises(ValueError, match="n_bins"):
        dlgen.reliability(np.array([[0.5, 0.5]]), np.array([0]), n_bins=0)


def test_exact_match_and_report_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, precision_score, recall_score

    rng = np.random.default_rng(1)
    t = (rng.random((200, 5)) < 0.3).astype(int)
    p = np.where(rng.random((200, 5)) < 0.8, t, 1 - t)
    assert dlgen.exact_match(t, p) == pytest.approx(accuracy_score(t, p))
    report = dlgen.multilabel_report(t, p, list("abcde"))
    assert list(report.index) == list("abcde")
    assert np.allclose(report["precision"], precision_score(t, p, average=None))
    assert np.allclose(report["recall"], recall_score(t, p, average=None))
    assert (report["support"] == t.sum(axis=0)).all()


def test_never_predicted_label_has_nan_precision():
    report = dlgen.multilabel_report([[1, 0], [0, 1]], [[1, 0], [1, 0]])
    assert np.isnan(report.loc[1, "precision"]) and report.loc[1, "recall"] == 0.0


def test_multilabel_inputs_are_checked():
    with pytest.raises(ValueError, match="only 0 and 1"):
        dlgen.exact_match([[0.2, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="shape"):
        dlgen.exact_match([[0, 1]], [[0, 1, 0]])
    with pytest.raises(ValueError, match="label_names"):
        dlgen.multilabel_report([[0, 1]], [[0, 1]], ["only one"])


def test_plot_reliability_draws_one_line_per_model_plus_the_diagonal():
    table = pd.DataFrame({"confidence": [0.6, 0.9], "accuracy": [0.5, 0.8], "count": [3, 4]})
    ax = dlgen.plot_reliability({"a": table, "b": table})
    assert len(ax.lines) == 3
    with pytest.raises(ValueError):
        dlgen.plot_reliability({})
    with pytest.raises(KeyError, match="count"):
        dlgen.plot_reliability({"a": table.drop(columns="count")})

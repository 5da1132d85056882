import numpy as np
import pandas as pd
import pytest

import dlgen


def _record(value, epochs=3):
    h = pd.DataFrame({
        "loss": np.linspace(1, value, epochs), "accuracy": np.linspace(0.5, 1.0, epochs),
        "val_loss": np.linspace(1, value + 0.5, epochs), "val_accuracy": np.linspace(0.5, 0.8, epochs),
    })
    return dlgen.RunRecord(h, {"accuracy": 0.8 - value / 10, "loss": value}, 0.01, 10, {})


def test_summarize_and_records_frame():
    recs = []
    for name, values in (("x", [0.1, 0.3]), ("y", [0.5, 0.5])):
        for seed, v in enumerate(values):
            r = _record(v)
            r.name, r.seed = name, seed
            recs.append(r)
    frame = dlgen.records_frame(recs)
    assert list(frame["name"]) == ["x", "x", "y", "y"]
    assert frame["gap"].iloc[0] == pytest.approx(0.2)
    table = dlgen.summarize(recs)
    assert list(table.index) == ["x", "y"]
    assert table.loc["x", ("test_loss", "mean")] == pytest.approx(0.2)
    assert table.loc["x", ("test_loss", "std")] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert table.loc["y", ("test_loss", "std")] == 0
    assert table.loc["x", ("n", "")] == 2
    with pytest.raises(KeyError, match="columns \\['nope'\\] not in the run table"):
        dlgen.summarize(recs, columns=["nope"])


def test_fingerprint_sees_shape_dtype_and_content():
    a = np.zeros((2, 3), np.uint8)
    assert dlgen.fingerprint(a) != dlgen.fingerprint(a.reshape(3, 2))
    assert dlgen.fingerprint(a) != dlgen.fingerprint(a.astype(np.int64))
    assert dlgen.fingerprint(a, a) != dlgen.fingerprint(a)


def test_good_range_measures_the_width_in_decades():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    narrow = dlgen.good_range(lrs, [2.3, 2.3, 0.5, 2.3, 2.3], threshold=1.4)
    wide = dlgen.good_range(lrs, [2.3, 0.5, 0.5, 0.5, 2.3], threshold=1.4)
    assert narrow["decades"] == pytest.approx(1.0, abs=0.01)
    assert wide["decades"] == pytest.approx(3.0, abs=0.01)
    assert wide["low"] == pytest.approx(10 ** -3.5, rel=1e-3)
    # A diverged run (NaN or inf) is bad, and order of the grid does not matter.
    blown = dlgen.good_range(lrs[::-1], [np.nan, 0.5, 0.5, 0.5, np.inf][::-1], threshold=1.4)
    capped = dlgen.good_range(lrs, [2.8, 0.5, 0.5, 0.5, 2.8], threshold=1.4)
    assert blown == capped and 2.0 < blown["decades"] < 3.0 and blown["high"] < 1.0
    none = dlgen.good_range(lrs, [3.0] * 5, threshold=1.0)
    assert none["decades"] == 0.0 and np.isnan(none["low"])


def test_good_range_rejects_bad_grids():
    with pytest.raises(ValueError, match="positive"):
        dlgen.good_range([0.0, 1.0], [1.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="same length"):
        dlgen.good_range([1.0, 2.0], [1.0], 1.0)


def test_selection_optimism_grows_with_candidates_and_shrinks_with_the_selection_set():
    rng = np.random.default_rng(1)
    correct = rng.random((40, 1000)) < 0.8            # candidates of equal true accuracy
    small = dlgen.selection_optimism(correct, 50, splits=100, seed=0)["optimism"].mean()
    large = dlgen.selection_optimism(correct, 500, splits=100, seed=0)["optimism"].mean()
    one = dlgen.selection_optimism(correct[:1], 50, splits=100, seed=0)["optimism"].mean()
    assert small > 2 * large > 0
    assert abs(one) < 0.02                            # one candidate: nothing to select, no bias


@pytest.mark.parametrize("kwargs, message", [
    (dict(correct=np.ones(5, bool), selection_size=2), r"correct must be a 2-D array"),
    (dict(correct=np.ones((2, 5), bool), selection_size=5), "selection_size must be an integer from 1 to 4, got 5"),
])
def test_selection_optimism_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dlgen.selection_optimism(**kwargs)


def test_time_to_target_counts_epochs_steps_and_seconds():
    h = pd.DataFrame({"val_accuracy": [0.5, 0.8, 0.79, 0.9], "val_loss": [1.0, 0.6, 0.5, 0.4],
                      "epoch_seconds": [2.0, 1.0, 1.0, 1.0]}, index=pd.RangeIndex(1, 5, name="epoch"))
    record = dlgen.RunRecord(h, {}, 5.0, 10, {})
    assert dlgen.time_to_target(record, 0.8, 25) == {"epochs": 2, "steps": 50, "seconds": 3.0, "reached": True}
    # a loss target is reached from above
    assert dlgen.time_to_target(record, 0.5, 25, metric="val_loss")["epochs"] == 3
    missed = dlgen.time_to_target(record, 0.95, 25)
    assert missed["reached"] is False and missed["steps"] == float("inf")
    no_timer = dlgen.time_to_target(h.drop(columns="epoch_seconds"), 0.8, 1)
    assert no_timer["epochs"] == 2 and np.isnan(no_timer["seconds"])


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "val_auc"}, "no column 'val_auc' in the history"),
    ({"steps_per_epoch": 0}, "steps_per_epoch must be a positive integer, got 0"),
    ({"steps_per_epoch": 2.5}, "steps_per_epoch must be a positive integer, got 2.5"),
    ({"metric": "val_mae"}, "cannot tell whether 'val_mystery' should go up or down"),
    ({"mode": "up"}, "mode must be 'auto', 'min' or 'max', got 'up'"),
    ({"target": float("nan")}, "target must be a finite number, got nan"),
])
def test_time_to_target_refuses_bad_input(kwargs, message):
    h = pd.DataFrame({"val_accuracy": [0.5, 0.9], "val_mae": [0.5, 0.1]})
    if kwargs.get("metric") == "val_mae":
        h = h.rename(columns={"val_mae": "val_mystery"})
        kwargs["metric"] = "val_mystery"
    args = {"target": 0.8, "steps_per_epoch": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        dlgen.time_to_target(h, **args)


def test_time_to_target_follows_the_direction_of_the_metric():
    h = pd.DataFrame({"val_mae": [0.5, 0.3, 0.1], "val_auc": [0.5, 0.7, 0.9]})
    assert dlgen.time_to_target(h, 0.2, 1, metric="val_mae")["epochs"] == 3       # lower is better
    assert dlgen.time_to_target(h, 0.6, 1, metric="val_auc")["epochs"] == 2       # higher is better
    assert dlgen.time_to_target(h, 0.4, 1, metric="val_mae", mode="max")["epochs"] == 1


def test_selection_optimism_refuses_zero_splits():
    with pytest.raises(ValueError, match="splits must be a positive integer, got 0"):
        dlgen.selection_optimism(np.ones((2, 100), bool), 50, splits=0)

import json

import keras
import numpy as np
import pandas as pd
import pytest

import dlgen
from dlgen.diagnose import REMEDIES, THRESHOLDS, VERDICTS, diagnose

E = np.arange(1, 21, dtype=float)


def frame(loss, val_loss, acc=None, val_acc=None):
    d = {"loss": loss, "val_loss": val_loss}
    if acc is not None:
        d.update(accuracy=acc, val_accuracy=val_acc)
    return pd.DataFrame(d)


def test_overfitting_from_the_epoch_of_the_best_validation_loss():
    loss = 1.0 / E
    val = 0.5 + 0.02 * (E - 6) ** 2 / 6          # lowest at epoch 6, then rising
    d = diagnose(frame(loss, val, 1 - 0.5 / E, np.full(20, 0.8)))
    assert d.verdict == "overfitting"
    assert d.evidence["best_val_epoch"] == 6
    assert "epoch 6" in d.findings["overfitting"] and "gap" in d.findings["overfitting"]
    assert d.remedies[0][1] == "08_early_stopping"


def test_underfitting_a_stalled_poor_fit():
    loss = 1.2 + 0.5 * np.exp(-E / 2)              # flattens out high
    d = diagnose(frame(loss, loss + 0.02, np.full(20, 0.6), np.full(20, 0.59)))
    assert d.verdict == "underfitting"
    assert d.evidence["final_train_metric"] == pytest.approx(0.6)
    assert d.remedies[0][0].startswith("remove regularization")


def test_a_run_record_is_judged_on_its_training_accuracy_measured_after_training():
    # dropout keeps the history's (training-mode) accuracy at 0.85; evaluated after training it is 0.96
    loss = 0.4 + 0.5 * np.exp(-E / 2)
    h = frame(loss, loss + 0.05, np.full(20, 0.85), np.full(20, 0.84))
    h.index = h.index + 1
    record = dlgen.RunRecord(h, {}, 1.0, 10, {}, train_eval={"accuracy": 0.96})
    d = diagnose(record)
    assert d.verdict == "healthy"
    assert d.evidence["final_train_metric"] == pytest.approx(0.96)
    assert d.evidence["train_metric_source"].startswith("evaluated after training")
    without = dlgen.RunRecord(h, {}, 1.0, 10, {})
    assert diagnose(without).verdict == "underfitting"
    assert diagnose(without).evidence["train_metric_source"].startswith("history")


def test_underfitting_without_a_metric_judges_the_loss():
    loss = 2.0 - 0.5 * (1 - np.exp(-E))            # ends at 75% of where it started
    assert diagnose(frame(loss, loss + 0.01)).verdict == "underfitting"


def test_a_good_fit_that_has_stalled_is_healthy_not_underfitting():
    loss = 0.05 + 0.5 * np.exp(-E)
    d = diagnose(frame(loss, loss + 0.02, np.full(20, 0.98), np.full(20, 0.97)))
    assert d.verdict == "healthy" and d.remedies == []


def test_not_converged_when_the_validation_loss_still_falls():
    loss = 1.0 / np.sqrt(E)
    d = diagnose(frame(loss, loss + 0.05, 1 - 0.3 / E, 1 - 0.35 / E))
    assert d.verdict == "not converged"
    assert d.evidence["val_loss_drop_per_epoch_last3"] > THRESHOLDS["converging"]


def test_diverging_on_nan_and_on_a_rising_training_loss():
    loss = 1.0 / E
    nan = loss.copy(); nan[12:] = np.nan
    d = diagnose(frame(nan, nan + 0.1))
    assert d.verdict == "diverging" and d.evidence["first_bad_epoch"] == 13
    rising = np.concatenate([1.0 / E[:10], np.linspace(0.2, 2.0, 10)])
    assert diagnose(frame(rising, rising + 0.1)).verdict == "diverging"
    assert diagnose(frame(rising, rising + 0.1)).remedies[0][0] == "lower the learning rate"


def test_unstable_on_a_spike():
    loss = 1.0 / E
    loss[9] = 3 * loss[8]
    d = diagnose(frame(loss, loss + 0.1))
    assert d.verdict == "unstable" and d.evidence["spikes"] == 1
    assert "into epoch 10" in d.findings["unstable"]


def test_thresholds_can_be_changed_and_unknown_ones_are_refused():
    loss = 1.0 / E
    val = 0.5 + 0.001 * (E - 6) ** 2 / 6          # rises by ~6.5% only
    assert diagnose(frame(loss, val)).verdict != "overfitting"
    assert diagnose(frame(loss, val), thresholds={"overfit_rise": 0.02}).verdict == "overfitting"
    with pytest.raises(ValueError, match=r"unknown thresholds \['patience'\]; allowed: rise, spike"):
        diagnose(frame(loss, val), thresholds={"patience": 3})


@pytest.mark.parametrize("bad, message", [
    (frame([1.0], [1.0]), "history has 1 epoch"),
    (pd.DataFrame({"loss": [1.0, 0.5, 0.3]}), r"history lacks the column\(s\) \['val_loss'\]"),
    (frame([np.nan] * 4, [np.nan] * 4), "NaN or infinite in every epoch"),
    ({"loss": [1, 2, 3]}, "history must be a keras History, a dlgen RunRecord or a pandas DataFrame, got dict"),
])
def test_unusable_input_is_refused_clearly(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        diagnose(bad)


def test_every_verdict_has_remedies_pointing_to_chapters_of_the_book():
    import pathlib
    notebooks = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
    assert set(REMEDIES) == set(VERDICTS)
    for verdict, remedies in REMEDIES.items():
        assert (verdict == "healthy") == (len(remedies) == 0)
        for _, doc, _ in remedies:
            assert (notebooks / f"{doc}.ipynb").exists(), doc


def test_output_forms():
    loss = 1.0 / E
    d = diagnose(frame(loss, 0.5 + 0.02 * (E - 6) ** 2 / 6))
    assert str(d).startswith("verdict: overfitting")
    assert "08_early_stopping.ipynb" in d._repr_markdown_()
    assert json.loads(json.dumps(d.to_dict()))["verdict"] == "overfitting"


@pytest.mark.integration
def test_real_runs_a_keras_history_and_a_run_record():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 20)).astype("float32")
    y = rng.integers(0, 3, 60)                     # random labels: memorize, cannot generalize
    xv, yv = rng.normal(size=(60, 20)).astype("float32"), rng.integers(0, 3, 60)
    dlgen.set_seed(0)
    big = dlgen.build_mlp((20,), 3, depth=2, units=128)
    rec = dlgen.fit(big, (x, y), (xv, yv), epochs=40, batch_size=16, optimizer="adam",
                    learning_rate=3e-3, evaluate_train=False)
    assert diagnose(rec).verdict == "overfitting"

    # A linear model on a task it cannot represent (XOR of two signs) underfits.
    xo = rng.normal(size=(400, 2)).astype("float32")
    yo = ((xo[:, 0] > 0) ^ (xo[:, 1] > 0)).astype("int64")
    dlgen.set_seed(0)
    lin = dlgen.build_mlp((2,), 2, depth=0)
    lin.compile(optimizer=keras.optimizers.Adam(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hist = lin.fit(xo[:300], yo[:300], validation_data=(xo[300:], yo[300:]), epochs=15, verbose=0)
    assert diagnose(hist).verdict == "underfitting"


def test_a_memorizing_run_whose_tiny_loss_wobbles_is_not_diverging_or_unstable():
    loss = np.concatenate([2.3 / E[:15] ** 3, [0.001, 0.002, 0.0012, 0.0025, 0.002]])
    val = 0.5 + 0.02 * (E - 6) ** 2 / 6
    d = diagnose(frame(loss, val))
    assert d.verdict == "overfitting"
    assert "diverging" not in d.findings and "unstable" not in d.findings

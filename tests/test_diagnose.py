import json

import keras
import numpy as np
import pandas as pd
import pytest

import dlgen
from dlgen.diagnose import REMEDIES, THRESHOLDS, VERDICTS, diagnose, noise

E = np.arange(1, 21, dtype=float)


def frame(loss, val_loss, acc=None, val_acc=None):
    d = {"loss": loss, "val_loss": val_loss}
    if acc is not None:
        d.update(accuracy=acc, val_accuracy=val_acc)
    return pd.DataFrame(d)


def test_overfitting_from_the_epoch_of_the_best_validation_loss():
    loss = 1.0 / E
    val = 0.5 + 0.02 * (E - 6) ** 2 / 6          # lowest at epoch 6, then rising
    val_acc = 0.8 - 0.004 * np.clip(E - 6, 0, None)   # and the validation accuracy falls with it
    d = diagnose(frame(loss, val, 1 - 0.5 / E, val_acc))
    assert d.verdict == "overfitting"
    assert d.evidence["best_val_epoch"] == 6
    assert "epoch 6" in d.findings["overfitting"] and "gap" in d.findings["overfitting"]
    assert d.remedies[0][0] == "get more data"
    assert "08_early_stopping" in [doc for _, doc, _ in d.remedies]


def test_a_rising_validation_loss_with_a_rising_validation_accuracy_is_overconfidence():
    # the curve: validation loss up 40% while validation accuracy rises from 0.60 to 0.88
    loss = 1.0 / E
    val = np.where(E < 6, 0.9 - 0.08 * E, 0.5 * (1 + 0.4 * (E - 6) / 14))
    d = diagnose(frame(loss, val, 1 - 0.3 / E, np.linspace(0.6, 0.88, 20)))
    assert d.verdict == "overconfident" and "overfitting" not in d.findings
    assert d.evidence["val_metric_change_since_best"] > 0.1
    assert all("restoring the best weights" not in what for what, _, _ in d.remedies)
    assert d.remedies[0][1] == "03_losses"
    # a held validation accuracy is overconfidence too; without a metric it cannot be told apart
    held = diagnose(frame(loss, 0.5 + 0.02 * (E - 6) ** 2 / 6, 1 - 0.5 / E, np.full(20, 0.8)))
    assert held.verdict == "overconfident"
    assert diagnose(frame(loss, 0.5 + 0.02 * (E - 6) ** 2 / 6)).verdict == "overfitting"


def test_a_dead_network_is_stuck_not_underfitting():
    # chapter 1's failure: loss flat at ln 10, accuracy 0.10 from the first epoch
    rng = np.random.default_rng(0)
    flat = np.log(10) + 1e-4 * rng.normal(size=20)
    h = frame(flat, flat + 1e-4, np.full(20, 0.1), np.full(20, 0.1))
    for d in (diagnose(h), diagnose(h, classes=10)):
        assert d.verdict == "stuck"
        assert d.evidence["classes"] == 10
        assert d.remedies[0][0] == "check the initialization"
        assert [doc for _, doc, _ in d.remedies[:3]] == ["01_initialization", "07_lr_decay", "02_backprop"]
    # without a metric, the chance level comes from the number of classes
    assert diagnose(frame(flat, flat), classes=10).verdict == "stuck"
    assert diagnose(frame(flat, flat), classes=3).verdict != "stuck"   # 2.30 is far above ln 3


def test_keras_metric_aliases_are_read_with_their_direction():
    # a CSVLogger file of a model compiled with metrics=["sparse_categorical_accuracy"]
    h = pd.DataFrame({"epoch": range(20), "loss": 1.2 + 0.5 * np.exp(-E / 2),
                      "sparse_categorical_accuracy": np.full(20, 0.3),
                      "val_loss": 1.22 + 0.5 * np.exp(-E / 2), "val_sparse_categorical_accuracy": np.full(20, 0.29)})
    d = diagnose(h, classes=10)
    assert d.evidence["metric"] == "sparse_categorical_accuracy"
    assert d.verdict == "underfitting" and "training sparse_categorical_accuracy 0.300" in d.findings["underfitting"]
    for alias in ("acc", "categorical_accuracy", "binary_accuracy", "auc"):
        g = h.rename(columns={"sparse_categorical_accuracy": alias, "val_sparse_categorical_accuracy": f"val_{alias}"})
        assert diagnose(g).evidence["metric"] == alias
    # a lower-is-better metric: its direction comes from its name
    m = frame(1.0 / E, 0.5 + 0.02 * (E - 6) ** 2 / 6)
    m["mae"], m["val_mae"] = 1.0 / E, 0.3 + 0.004 * np.clip(E - 6, 0, None)
    d = diagnose(m, metric="mae")
    assert d.verdict == "overfitting" and d.evidence["val_metric_change_since_best"] < 0
    with pytest.raises(ValueError, match=r"no columns 'top5' and 'val_top5'"):
        diagnose(m, metric="top5")


def test_a_noisy_flat_plateau_is_mostly_healthy():
    # 300 draws of a converged run with 3% epoch-to-epoch noise: fixed percentages over the last
    # three epochs called 11% of them overfitting and 35% not converged
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(300):
        def noisy(level):
            return level * (1 + 0.03 * rng.normal(size=20))
        verdicts.append(diagnose(frame(noisy(0.3), noisy(0.4), np.clip(noisy(0.9), 0, 1),
                                       np.clip(noisy(0.86), 0, 1))).verdict)
    counts = pd.Series(verdicts).value_counts()
    assert counts.get("healthy", 0) >= 0.9 * 300, counts.to_dict()
    assert counts.get("overfitting", 0) + counts.get("overconfident", 0) <= 0.03 * 300, counts.to_dict()
    assert counts.get("not converged", 0) <= 0.05 * 300, counts.to_dict()


def test_a_converged_run_on_a_hard_task_is_judged_against_the_task():
    # training accuracy 0.75, validation 0.74, converged: nothing in the curves says more is possible
    loss = 0.7 + 0.5 * np.exp(-E / 2)
    h = frame(loss, loss + 0.03, 0.75 - 0.2 * np.exp(-E / 2), 0.74 - 0.2 * np.exp(-E / 2))
    d = diagnose(h, classes=10)
    assert d.verdict == "healthy" and "target=" in d.findings["healthy"]
    assert d.evidence["fit_share"] == pytest.approx((0.75 - 0.1) / 0.9, abs=0.01)
    # with a target the task allows (say a larger model reaches 0.92), the same run underfits
    d = diagnose(h, classes=10, target=0.92)
    assert d.verdict == "underfitting" and "target of 0.920" in d.findings["underfitting"]
    # near chance it underfits without a target: 0.3 on ten classes covers a fifth of the way
    low = frame(loss, loss + 0.03, np.full(20, 0.3), np.full(20, 0.29))
    assert diagnose(low, classes=10).verdict == "underfitting"
    with pytest.raises(ValueError, match="target must be a finite number"):
        diagnose(h, target="high")
    with pytest.raises(ValueError, match="classes must be an integer >= 2"):
        diagnose(h, classes=1)


def test_noise_is_a_robust_spread_that_ignores_the_trend():
    rng = np.random.default_rng(1)
    assert noise(0.5 + 0.02 * rng.normal(size=4000)) == pytest.approx(0.02, rel=0.05)
    assert noise(np.exp(-np.arange(30) / 5.0)) < 0.01
    spiky = 0.5 + 0.02 * rng.normal(size=200)
    spiky[::20] += 1.0
    assert noise(spiky) < 0.04 < 0.1 < spiky.std()   # a spike every 20 epochs barely moves it


def test_per_step_logs_are_averaged_per_epoch():
    steps = pd.DataFrame({"epoch": np.repeat(np.arange(20), 5), "loss": np.repeat(1.0 / E, 5),
                          "val_loss": np.repeat(0.5 + 0.02 * (E - 6) ** 2 / 6, 5)})
    assert dlgen.read_history(steps).shape[0] == 20
    assert diagnose(steps).evidence["best_val_epoch"] == 6
    by_step = steps.drop(columns="epoch").assign(step=np.arange(100))
    assert diagnose(by_step, steps_per_epoch=5).evidence["best_val_epoch"] == 6
    with pytest.raises(ValueError, match="steps_per_epoch must be a positive integer"):
        diagnose(by_step, steps_per_epoch=0)


def test_underfitting_a_stalled_poor_fit():
    loss = 1.2 + 0.5 * np.exp(-E / 2)              # flattens out high
    d = diagnose(frame(loss, loss + 0.02, np.full(20, 0.35), np.full(20, 0.34)), classes=10)
    assert d.verdict == "underfitting"
    assert d.evidence["final_train_metric"] == pytest.approx(0.35)
    assert d.remedies[0][0] == "use a bigger or better-suited model"


def test_a_run_record_is_judged_on_its_training_accuracy_measured_after_training():
    # dropout keeps the history's (training-mode) accuracy at 0.85; evaluated after training it is 0.96
    loss = 0.4 + 0.5 * np.exp(-E / 2)
    h = frame(loss, loss + 0.05, np.full(20, 0.85), np.full(20, 0.84))
    h.index = h.index + 1
    record = dlgen.RunRecord(h, {}, 1.0, 10, {}, train_eval={"accuracy": 0.96})
    d = diagnose(record, target=0.95)
    assert d.verdict == "healthy"
    assert d.evidence["final_train_metric"] == pytest.approx(0.96)
    assert d.evidence["train_metric_source"].startswith("evaluated after training")
    without = dlgen.RunRecord(h, {}, 1.0, 10, {})
    assert diagnose(without, target=0.95).verdict == "underfitting"
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
    assert d.evidence["val_loss_drop_per_epoch_late"] > THRESHOLDS["converging"]


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
    assert diagnose(frame(loss, val)).verdict == "overfitting"
    assert diagnose(frame(loss, val), thresholds={"overfit_rise": 0.1}).verdict != "overfitting"
    with pytest.raises(ValueError, match=r"unknown thresholds \['patience'\]; allowed: rise, stuck_band"):
        diagnose(frame(loss, val), thresholds={"patience": 3})


@pytest.mark.parametrize("bad, message", [
    (frame([1.0], [1.0]), "history has 1 epoch"),
    (pd.DataFrame({"loss": [1.0, 0.5, 0.3]}), r"history lacks the column\(s\) \['val_loss'\]"),
    (frame([np.nan] * 4, [np.nan] * 4), "NaN or infinite in every epoch"),
    ({"loss": [1, 2, 3]}, r"history lacks the column\(s\) \['val_loss'\]"),
    (42, "history must be a keras History, a dlgen RunRecord, a DataFrame, a dict of lists, or a path .* got int"),
    ("/no/such/run.csv", "no such file or directory: /no/such/run.csv"),
])
def test_unusable_input_is_refused_clearly(bad, message):
    with pytest.raises((ValueError, TypeError, FileNotFoundError), match=message):
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
    assert diagnose(rec, classes=3).verdict == "overfitting"     # validation accuracy at chance: memorization

    # A linear model on a task it cannot represent (XOR of two signs) underfits.
    xo = rng.normal(size=(400, 2)).astype("float32")
    yo = ((xo[:, 0] > 0) ^ (xo[:, 1] > 0)).astype("int64")
    dlgen.set_seed(0)
    lin = dlgen.build_mlp((2,), 2, depth=0)
    lin.compile(optimizer=keras.optimizers.Adam(0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hist = lin.fit(xo[:300], yo[:300], validation_data=(xo[300:], yo[300:]), epochs=15, verbose=0)
    # it ends a little above chance on two classes: judged against chance, a poor fit, and capacity comes first
    d = diagnose(hist, classes=2)
    assert d.verdict == "underfitting", str(d)
    assert d.remedies[0][0] == "use a bigger or better-suited model"


def test_a_memorizing_run_whose_tiny_loss_wobbles_is_not_diverging_or_unstable():
    loss = np.concatenate([2.3 / E[:15] ** 3, [0.001, 0.002, 0.0012, 0.0025, 0.002]])
    val = 0.5 + 0.02 * (E - 6) ** 2 / 6
    d = diagnose(frame(loss, val))
    assert d.verdict == "overfitting"
    assert "diverging" not in d.findings and "unstable" not in d.findings


def _wobbly(share, n=20, seed=0):
    rng = np.random.default_rng(seed)
    trend = 0.6 + 0.7 * np.exp(-np.arange(n) / 3)
    return trend + share * 0.7 * rng.normal(size=n)


def test_an_oscillating_training_loss_is_unstable_and_a_smooth_one_is_not():
    # epoch-to-epoch noise of 15% of the fall (SGD at too high a rate) against 1% (Adam)
    for share, unstable in [(0.15, True), (0.01, False)]:
        loss = _wobbly(share)
        h = pd.DataFrame({"loss": loss, "val_loss": loss + 0.05})
        d = diagnose(h)
        assert ("unstable" in d.findings) is unstable, (share, d.findings, d.evidence["jitter"])


def test_jitter_measures_the_noise_against_the_fall_and_turns_unstable_at_five_percent():
    for share in [0.03, 0.04, 0.06, 0.08]:
        ratios = []
        for seed in range(10):
            loss = _wobbly(share, n=60, seed=seed)
            d = diagnose(pd.DataFrame({"loss": loss, "val_loss": loss + 0.05}))
            jitter = d.evidence["jitter"]
            ratios.append(jitter / (share * 0.7 / (loss[0] - loss.min())))
            assert ("unstable" in d.findings) is (jitter > THRESHOLDS["jitter"]), (share, seed, jitter)
        # one run's robust spread is off by up to a third; ten runs' mean is close to the noise put in
        assert np.mean(ratios) == pytest.approx(1.0, abs=0.15), (share, ratios)
    # a flat plateau: the noise is read against its level, not against its (tiny) fall
    rng = np.random.default_rng(1)
    for share, unstable in [(0.03, False), (0.09, True)]:
        loss = 0.3 * (1 + share * rng.normal(size=30))
        d = diagnose(pd.DataFrame({"loss": loss, "val_loss": loss + 0.05}))
        assert ("unstable" in d.findings) is unstable, (share, d.evidence["jitter"])
        if unstable:
            assert "of its level" in d.findings["unstable"]


@pytest.mark.parametrize("ratio, diverging", [(1.9, False), (2.1, True)])
def test_a_loss_that_ends_above_twice_a_uniform_guess_is_diverging(ratio, diverging):
    end = ratio * np.log(10)
    loss = np.concatenate([np.linspace(30.0, end, 8), np.full(10, end)])
    acc = np.linspace(0.3, 0.6, 18)
    h = pd.DataFrame({"loss": loss, "val_loss": loss, "accuracy": acc, "val_accuracy": acc})
    d = diagnose(h, classes=10)
    assert ("diverging" in d.findings) is diverging, d.findings
    if diverging:
        assert f"{ratio:.1f} times that of a uniform guess" in d.findings["diverging"]


def test_a_loss_far_above_a_uniform_guess_is_diverging_even_when_it_falls():
    loss = np.linspace(180.0, 20.0, 15)
    h = pd.DataFrame({"loss": loss, "val_loss": loss * 1.1, "accuracy": np.linspace(0.5, 0.85, 15),
                      "val_accuracy": np.linspace(0.5, 0.84, 15)})
    assert diagnose(h, classes=10).verdict == "diverging"
    assert "uniform guess" in diagnose(h, classes=10).findings["diverging"]
    # without a chance level the rule cannot apply
    assert "diverging" not in diagnose(h[["loss", "val_loss"]]).findings

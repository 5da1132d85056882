import json

import numpy as np
import pandas as pd
import keras
import pytest

import dlgen


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x, y


def test_fit_returns_a_full_record(toy):
    x, y = toy
    dlgen.set_seed(0)
    rec = dlgen.fit(dlgen.build_mlp((6,), 2, depth=1, units=8), (x, y), (x, y), (x, y),
                    epochs=3, batch_size=16, learning_rate=0.01, config={"note": "toy"})
    assert list(rec.history.index) == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"} <= set(rec.history)
    assert set(rec.test) == {"loss", "accuracy"}
    assert rec.params == 6 * 8 + 8 + 8 * 2 + 2
    assert rec.config["note"] == "toy" and rec.config["epochs"] == 3
    assert rec.config["learning_rate"] == pytest.approx(0.01)
    assert rec.seconds > 0
    assert rec.final("loss") < rec.history["loss"].iloc[0]  # it learned something


def test_fit_is_reproducible_with_the_same_seed(toy):
    def once():
        dlgen.set_seed(1)
        return dlgen.fit(dlgen.build_mlp((6,), 2, depth=1, units=8, dropout=0.5), toy, epochs=2)

    assert once().history["loss"].tolist() == once().history["loss"].tolist()


def test_default_loss_follows_the_output_layer(toy):
    m = dlgen.build_mlp((6,), 2, depth=1, units=4, output_activation="softmax")
    dlgen.fit(m, toy, epochs=1)
    assert m.loss.get_config()["from_logits"] is False
    m = dlgen.build_mlp((6,), 2, depth=1, units=4)
    dlgen.fit(m, toy, epochs=1)
    assert m.loss.get_config()["from_logits"] is True


@pytest.mark.parametrize("epochs", [-1, 2.5, "3"])
def test_bad_epochs(toy, epochs):
    with pytest.raises(ValueError, match="epochs must be a non-negative integer"):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), toy, epochs=epochs)


def test_zero_epochs_trains_nothing(toy):
    rec = dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), toy, test=toy, epochs=0)
    assert rec.history.empty and "accuracy" in rec.test


def test_mismatched_shapes(toy):
    x, y = toy
    model = dlgen.build_mlp((6,), 2, depth=0)
    with pytest.raises(ValueError, match=r"validation examples have shape \(5,\), but the model expects \(6,\)"):
        dlgen.fit(model, (x, y), (x[:, :5], y), epochs=1)
    with pytest.raises(ValueError, match="train: x has 64 examples but y has 63"):
        dlgen.fit(model, (x, y[:-1]), epochs=1)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        dlgen.fit(model, (x, y), epochs=1, batch_size=0)


def test_optimizer_instance_and_learning_rate_conflict(toy):
    import keras

    with pytest.raises(ValueError, match="pass learning_rate to the optimizer instance"):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), toy, optimizer=keras.optimizers.SGD(), learning_rate=0.1)


def test_record_round_trips_through_json():
    h = pd.DataFrame({"loss": [1.0, 0.5, 0.7], "accuracy": [0.5, 0.8, 0.9],
                      "val_loss": [1.1, 0.6, 0.9], "val_accuracy": [0.4, 0.7, 0.6]})
    rec = dlgen.RunRecord(h, {"accuracy": 0.65}, 2.0, 100, {"rate": 0.5}, "a", 3,
                          extra={"ece": 0.1, "bins": [0.5, 0.9]})
    back = dlgen.RunRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert back.extra == {"ece": 0.1, "bins": [0.5, 0.9]}
    pd.testing.assert_frame_equal(back.history, rec.history.set_axis(back.history.index), check_names=False)
    assert back.test == rec.test and back.seed == 3 and back.name == "a"
    assert back.gap() == pytest.approx(0.3)
    assert back.gap("loss") == pytest.approx(0.2)
    assert back.best_epoch() == 2
    assert back.best_epoch("val_accuracy", "max") == 2
    with pytest.raises(KeyError, match="no column 'val_auc'"):
        back.final("val_auc")


def test_epoch_timer_resets_between_fits(toy):
    timer = dlgen.EpochTimer()
    model = dlgen.build_mlp((6,), 2, depth=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(*toy, epochs=3, verbose=0, callbacks=[timer])
    model.fit(*toy, epochs=2, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 2 and all(s > 0 for s in timer.seconds)


def test_train_eval_measures_the_training_set_in_inference_mode(toy):
    dlgen.set_seed(0)
    model = dlgen.build_mlp((6,), 2, depth=1, units=32, dropout=0.9)
    rec = dlgen.fit(model, toy, toy, epochs=3, learning_rate=0.01)
    expected = model.evaluate(*toy, verbose=0, return_dict=True)["accuracy"]
    assert rec.train_eval["accuracy"] == pytest.approx(expected)
    assert rec.gap() == pytest.approx(expected - rec.final("val_accuracy"))
    assert dlgen.fit(model, toy, epochs=1, evaluate_train=False).train_eval == {}


def test_gap_uses_train_eval_when_present():
    h = pd.DataFrame({"accuracy": [0.7], "val_accuracy": [0.8]})
    rec = dlgen.RunRecord(h, {}, 0.0, 1, {}, train_eval={"accuracy": 0.95})
    assert rec.gap() == pytest.approx(0.15)
    assert dlgen.records_frame([rec])["train_accuracy"].iloc[0] == 0.95


def test_epochs_to_finds_the_first_epoch_at_target():
    h = pd.DataFrame({"val_accuracy": [0.2, 0.7, 0.6, 0.9], "val_loss": [2.0, 1.0, 0.5, 0.4]})
    r = dlgen.RunRecord(h, {}, 0.0, 0, {})
    assert r.epochs_to(0.7) == 2
    assert r.epochs_to(0.95) is None
    assert r.epochs_to(0.5, "val_loss", mode="min") == 3
    with pytest.raises(ValueError, match="mode"):
        r.epochs_to(0.5, mode="up")
    with pytest.raises(KeyError, match="accuracy"):
        r.epochs_to(0.5, "accuracy")


@pytest.mark.parametrize("name", dlgen.OPTIMIZERS)
def test_make_optimizer_builds_each_named_optimizer(name):
    opt = dlgen.make_optimizer(name, 0.01, clipnorm=2.0)
    assert isinstance(opt, keras.optimizers.Optimizer)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.01)
    assert opt.clipnorm == 2.0
    if name in ("momentum", "Nesterov"):
        assert opt.momentum == 0.9 and opt.nesterov == (name == "Nesterov")


def test_make_optimizer_rejects_unknown_names_and_rates():
    with pytest.raises(ValueError, match="allowed: SGD"):
        dlgen.make_optimizer("adam", 0.01)
    with pytest.raises(ValueError, match="learning_rate"):
        dlgen.make_optimizer("SGD", -1.0)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert dlgen.make_optimizer("Adam", schedule).learning_rate is not None


@pytest.mark.parametrize("rate", [1e-4, 3.16e-4, 0.05, 0.5])
def test_record_keeps_the_learning_rate_as_written(rate, toy):
    for opt, lr in (("sgd", rate), (dlgen.make_optimizer("SGD", rate), None)):
        rec = dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), toy, epochs=1, optimizer=opt, learning_rate=lr)
        assert rec.config["learning_rate"] == rate


def test_held_out_evaluation_logs_match_a_separate_evaluate(toy):
    x, y = toy
    held = (x[:16] * 2.0, y[:16])
    model = dlgen.build_mlp((6,), 2, depth=1, units=8)
    rec = dlgen.fit(model, (x, y), (x[16:], y[16:]), epochs=3, batch_size=16,
                    callbacks=[dlgen.HeldOutEvaluation(held)], evaluate_train=False)
    assert {"test_loss", "test_accuracy"} <= set(rec.history.columns)
    assert len(rec.history["test_loss"]) == 3
    # After the last epoch, the logged values are what evaluate() gives for the final weights.
    out = model.evaluate(*held, verbose=0, return_dict=True)
    assert rec.history["test_loss"].iloc[-1] == pytest.approx(out["loss"], rel=1e-5)
    assert rec.history["test_accuracy"].iloc[-1] == pytest.approx(out["accuracy"])


def test_held_out_evaluation_with_early_stopping_records_every_epoch_run(toy):
    x, y = toy
    stop = keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True, monitor="loss",
                                         min_delta=10.0)  # nothing counts as an improvement
    model = dlgen.build_mlp((6,), 2, depth=1, units=8)
    rec = dlgen.fit(model, (x, y), epochs=10, batch_size=16, evaluate_train=False,
                    callbacks=[dlgen.HeldOutEvaluation((x, y), prefix="extra"), stop])
    assert len(rec.history) == 2 and rec.history["extra_accuracy"].notna().all()


@pytest.mark.parametrize("kwargs, message", [
    (dict(data=(np.zeros(3), np.zeros(2))), "data must be a pair"),
    (dict(data=(np.zeros(3), np.zeros(3)), prefix="val"), "prefix must be an identifier other than 'val', got 'val'"),
    (dict(data=(np.zeros(3), np.zeros(3)), prefix="my test"), "got 'my test'"),
])
def test_held_out_evaluation_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dlgen.HeldOutEvaluation(**kwargs)


def test_held_out_evaluation_keeps_each_epochs_predictions(toy):
    x, y = toy
    held = dlgen.HeldOutEvaluation((x, y), keep_predictions=True)
    model = dlgen.build_mlp((6,), 2, depth=1, units=8)
    rec = dlgen.fit(model, (x, y), epochs=3, batch_size=16, callbacks=[held], evaluate_train=False)
    assert len(held.predictions) == 3 and held.predictions[-1].shape == (64,)
    # The kept predictions agree with the logged accuracy of each epoch.
    for pred, acc in zip(held.predictions, rec.history["test_accuracy"]):
        assert (pred == y).mean() == pytest.approx(acc)
    dlgen.fit(model, (x, y), epochs=1, batch_size=16, callbacks=[held], evaluate_train=False)
    assert len(held.predictions) == 1  # reset at the start of each fit


def test_held_out_evaluation_every_k_epochs(toy):
    x, y = toy
    model = dlgen.build_mlp((6,), 2, depth=1, units=8)
    rec = dlgen.fit(model, (x, y), epochs=7, batch_size=16, evaluate_train=False,
                    callbacks=[dlgen.HeldOutEvaluation((x, y), every=3)])
    measured = rec.history["test_accuracy"].notna().tolist()
    assert measured == [True, False, True, False, False, True, False]
    with pytest.raises(ValueError, match="every must be a positive integer, got 0"):
        dlgen.HeldOutEvaluation((x, y), every=0)


def test_target_reached_stops_at_the_first_epoch_that_reaches_the_target():
    rng = np.random.default_rng(0)
    x = rng.random((64, 4)).astype("float32")
    y = (x[:, 0] > 0.5).astype(int)
    stop = dlgen.TargetReached("accuracy", 0.0)            # reached after the first epoch
    record = dlgen.fit(dlgen.build_mlp((4,), 2, depth=1, units=8), (x, y), epochs=5, batch_size=16,
                       callbacks=[stop], evaluate_train=False)
    assert stop.reached_epoch == 1 and len(record.history) == 1
    never = dlgen.TargetReached("loss", -1.0)               # a loss below zero is never reached
    record = dlgen.fit(dlgen.build_mlp((4,), 2, depth=1, units=8), (x, y), epochs=3, batch_size=16,
                       callbacks=[never], evaluate_train=False)
    assert never.reached_epoch is None and len(record.history) == 3


def test_target_reached_refuses_bad_settings_and_a_missing_metric():
    with pytest.raises(ValueError, match="target must be a finite number, got nan"):
        dlgen.TargetReached("val_accuracy", float("nan"))
    with pytest.raises(ValueError, match="monitor must be the name of a logged metric"):
        dlgen.TargetReached("", 0.5)
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, int)
    with pytest.raises(KeyError, match="'val_accuracy' is not in the logs"):
        dlgen.fit(dlgen.build_mlp((4,), 2, depth=0), (x, y), epochs=1,
                  callbacks=[dlgen.TargetReached("val_accuracy", 0.5)], evaluate_train=False)


@pytest.mark.parametrize("change, message", [
    (dict(metrics="accuracy"), r"metrics must be a list or tuple of Keras metrics, e.g. \['accuracy'\], got str 'accuracy'"),
    (dict(learning_rate=-1e-3), r"learning_rate must be a positive number or a Keras learning-rate schedule, got -0.001"),
    (dict(learning_rate=float("nan")), r"learning_rate must be a positive number .* got nan"),
    (dict(config={"units": object()}), r"config\['units'\] is a object"),
    (dict(optimizer="adamm"), r"unknown optimizer 'adamm'"),
])
def test_fit_refuses_bad_arguments_before_training(toy, change, message):
    with pytest.raises((TypeError, ValueError), match=message):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), toy, epochs=1, **change)


def test_fit_checks_the_labels_against_the_model_output(toy):
    import keras

    x, y = toy
    with pytest.raises(ValueError, match="the model has 1 output unit, but sparse categorical cross-entropy"):
        dlgen.fit(dlgen.build_mlp((6,), 1, depth=0), (x, y), epochs=1)
    with pytest.raises(ValueError, match=r"train labels have shape \(64, 2\) \(one-hot"):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), (x, np.eye(2)[y]), epochs=1)
    with pytest.raises(ValueError, match=r"test labels range from 0 to 4, but the model has 2 outputs"):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), (x, y), test=(x, y * 4), epochs=1)
    with pytest.raises(ValueError, match=r"needs one-hot labels of shape \(n, 2\)"):
        dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), (x, y), epochs=1,
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    # one-hot labels with the matching loss are fine
    rec = dlgen.fit(dlgen.build_mlp((6,), 2, depth=0), (x, np.eye(2)[y]), epochs=1,
                    loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    assert len(rec.history) == 1


def test_target_reached_follows_the_direction_of_the_metric():
    stop = dlgen.TargetReached("val_mae", 0.2)
    assert stop.mode == "min"
    assert dlgen.TargetReached("val_auc", 0.9).mode == "max"
    with pytest.raises(ValueError, match="cannot tell whether 'val_custom' should go up or down"):
        dlgen.TargetReached("val_custom", 0.2)
    assert dlgen.TargetReached("val_custom", 0.2, mode="min").mode == "min"


def test_a_record_dict_of_the_wrong_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"not a RunRecord dict: missing \['params', 'seconds', 'test'\]"):
        dlgen.RunRecord.from_dict({"history": {}, "config": {}})
    with pytest.raises(ValueError, match="history columns differ in length"):
        dlgen.RunRecord.from_dict({"history": {"a": [1], "b": []}, "test": {}, "seconds": 0, "params": 1,
                                   "config": {}})

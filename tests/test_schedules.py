import keras
import numpy as np
import pytest

import dlgen
from dlgen.schedules import SCHEDULES, OneCycle, make_schedule, schedule_values

TOTAL = 200


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_starts_or_peaks_at_the_rate_and_ends_lower(name):
    values = schedule_values(make_schedule(name, 0.1, TOTAL), np.arange(TOTAL))
    assert values.max() == pytest.approx(0.1, rel=1e-5)
    assert (values > 0).all()
    if name == "constant":
        assert np.allclose(values, 0.1)
    else:
        assert values[-1] < 0.1 * 0.05, (name, values[-1])


@pytest.mark.parametrize("name", ["step", "exponential", "cosine"])
def test_decaying_schedules_never_rise(name):
    values = schedule_values(make_schedule(name, 0.1, TOTAL), np.arange(TOTAL))
    assert (np.diff(values) <= 1e-9).all()


def test_warmup_cosine_rises_linearly_then_falls():
    values = schedule_values(make_schedule("warmup_cosine", 1.0, 100, warmup_fraction=0.1), np.arange(100))
    assert values[0] == pytest.approx(0.01, rel=1e-4)
    assert np.argmax(values) == 10
    assert np.allclose(np.diff(values[:10]), np.diff(values[:10])[0], rtol=1e-3)
    assert (np.diff(values[10:]) <= 1e-7).all()


def test_one_cycle_matches_its_formula():
    s = OneCycle(1.0, total_steps=100, warmup_fraction=0.3, div_factor=25.0, final_div_factor=1e4)
    start, end = 1 / 25, 1 / 25 / 1e4
    assert float(s(0)) == pytest.approx(start, rel=1e-5)
    assert float(s(15)) == pytest.approx(start + (1 - start) / 2, rel=1e-5)
    assert float(s(30)) == pytest.approx(1.0, rel=1e-6)
    assert float(s(65)) == pytest.approx(end + (1 - end) / 2, rel=1e-5)
    assert float(s(100)) == pytest.approx(end, rel=1e-3)
    assert float(s(500)) == pytest.approx(end, rel=1e-3)  # stays at the end value


def test_one_cycle_round_trips_through_its_config_and_an_optimizer():
    s = OneCycle(0.5, total_steps=40, warmup_fraction=0.25)
    again = OneCycle.from_config(s.get_config())
    assert schedule_values(again, range(40)).tolist() == schedule_values(s, range(40)).tolist()
    opt = keras.optimizers.SGD(s)
    restored = keras.optimizers.SGD.from_config(opt.get_config())
    assert float(restored.learning_rate) == pytest.approx(0.5 / 25, rel=1e-5)


def test_a_schedule_drives_a_real_training_run():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = dlgen.build_mlp((4,), 2, depth=1, units=8)
    opt = dlgen.make_optimizer("SGD", make_schedule("step", 0.1, total_steps=8))
    dlgen.fit(model, (x, y), epochs=2, batch_size=16, optimizer=opt, evaluate_train=False)
    assert int(opt.iterations) == 8
    assert float(opt.learning_rate) == pytest.approx(0.001, rel=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="linear"), "unknown schedule 'linear'; allowed: constant, step"),
    (dict(learning_rate=0), "learning_rate must be a positive number, got 0"),
    (dict(learning_rate=True), "learning_rate must be a positive number, got True"),
    (dict(total_steps=1), "total_steps must be an integer >= 2, got 1"),
    (dict(total_steps=10.0), "total_steps must be an integer >= 2, got 10.0"),
    (dict(final_fraction=1.5), r"final_fraction must be a number in \[0.0, 1.0\), got 1.5"),
    (dict(warmup_fraction=0.5), r"warmup_fraction must be a number in \(0.0, 0.333"),
])
def test_bad_arguments_name_the_value_and_what_is_allowed(kwargs, message):
    args = dict(name="cosine", learning_rate=0.1, total_steps=100) | kwargs
    with pytest.raises(ValueError, match=message):
        make_schedule(args.pop("name"), **args)


def test_one_cycle_rejects_bad_factors():
    with pytest.raises(ValueError, match="div_factor must be a number >= 1, got 0.5"):
        OneCycle(1.0, 10, div_factor=0.5)


def test_schedule_values_of_a_number_and_bad_steps():
    assert schedule_values(0.3, [0, 7]).tolist() == pytest.approx([0.3, 0.3])
    with pytest.raises(ValueError, match="steps must be a 1-D sequence of non-negative integers"):
        schedule_values(0.3, [-1, 2])
    with pytest.raises(ValueError, match="schedule must be a positive number, got -0.3"):
        schedule_values(-0.3, [0])

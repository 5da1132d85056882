import keras
import numpy as np
import pandas as pd
import pytest

import dlgen


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = (x[:, :2].sum(axis=1) > 0).astype("int64")
    return x, y


def test_recorded_losses_are_the_losses_of_each_batch(blobs):
    # With a negligible learning rate the weights stay put, so each recorded
    # loss must equal the model's loss on that batch.
    dlgen.set_seed(0)
    model = dlgen.build_mlp((8,), 2, depth=1, units=16)
    frame = dlgen.lr_range_test(model, blobs, min_lr=1e-12, max_lr=2e-12, steps=8, batch_size=64,
                                seed=3)
    x, y = blobs
    order = np.random.default_rng(3).permutation(len(x))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    direct = [float(keras.ops.convert_to_numpy(loss_fn(y[order[i * 64:(i + 1) * 64]],
                                                       model(x[order[i * 64:(i + 1) * 64]]))))
              for i in range(8)]
    assert np.allclose(frame["loss"], direct, rtol=1e-4, atol=1e-5)
    assert np.allclose(frame["learning_rate"], np.geomspace(1e-12, 2e-12, 8))


def test_a_too_large_rate_stops_the_test_and_the_suggestion_lies_before_the_turn(blobs):
    dlgen.set_seed(0)
    frame = dlgen.lr_range_test(dlgen.build_mlp((8,), 2, depth=2, units=32), blobs,
                                min_lr=1e-4, max_lr=1e4, steps=80, batch_size=32)
    assert len(frame) < 80, "the loss should blow up before the rate reaches 1e4"
    suggested = dlgen.suggest_learning_rate(frame)
    at_minimum = frame["learning_rate"].iloc[int(frame["smoothed_loss"].idxmin())]
    assert 1e-4 < suggested <= at_minimum
    # Training at the suggested rate actually learns the problem.
    dlgen.set_seed(0)
    rec = dlgen.fit(dlgen.build_mlp((8,), 2, depth=2, units=32), blobs, epochs=5, batch_size=32,
                    optimizer="SGD", learning_rate=suggested)
    assert rec.train_eval["accuracy"] > 0.9


def test_range_test_checks_its_arguments(blobs):
    model = dlgen.build_mlp((8,), 2, depth=1, units=4)
    with pytest.raises(ValueError, match="min_lr"):
        dlgen.lr_range_test(model, blobs, min_lr=1.0, max_lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        dlgen.lr_range_test(model, blobs, steps=1)
    with pytest.raises(ValueError, match="smoothing"):
        dlgen.lr_range_test(model, blobs, smoothing=0.0)
    with pytest.raises(KeyError, match="smoothed_loss"):
        dlgen.suggest_learning_rate(pd.DataFrame({"learning_rate": [1.0, 2.0, 3.0]}))
    rising = pd.DataFrame({"learning_rate": [1e-3, 1e-2, 1e-1], "smoothed_loss": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="smaller min_lr"):
        dlgen.suggest_learning_rate(rising)

import numpy as np
import pytest

import dlgen
from dlgen.transfer import cached_weights, feature_extractor, transfer_model, weights_path


def small_cnn():
    return dlgen.build_cnn((8, 8, 1), 4, filters=(4,), dense_units=6)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.random((32, 8, 8, 1)).astype("float32"), np.arange(32) % 4


def test_cache_miss_trains_and_saves_then_a_hit_loads_the_same_weights(tmp_path, data):
    calls = []

    def train(model):
        calls.append(1)
        dlgen.fit(model, data, epochs=2, batch_size=8, evaluate_train=False)

    first = small_cnn()
    assert cached_weights(first, {"net": "small", "epochs": 2}, train, tmp_path) is False
    second = small_cnn()
    assert cached_weights(second, {"net": "small", "epochs": 2}, train, tmp_path) is True
    assert calls == [1]
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    files = [p.name for p in (tmp_path / "weights").iterdir()]
    assert len(files) == 1 and files[0].endswith(".weights.h5")  # no temporary left behind


def test_a_different_key_is_a_different_entry(tmp_path):
    assert weights_path({"epochs": 2}, tmp_path) != weights_path({"epochs": 3}, tmp_path)
    assert weights_path({"a": 1, "b": 2}, tmp_path) == weights_path({"b": 2, "a": 1}, tmp_path)
    with pytest.raises(ValueError, match="key must be JSON-serializable"):
        weights_path({"data": object()}, tmp_path)


def test_failed_training_leaves_no_entry(tmp_path):
    def train(model):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_weights(small_cnn(), {"k": 1}, train, tmp_path)
    assert not weights_path({"k": 1}, tmp_path).exists()


@pytest.mark.parametrize("mode, source_moves, trainable", [("frozen", False, 2), ("fine_tune", True, 6)])
def test_only_fine_tuning_moves_the_source_weights(data, mode, source_moves, trainable):
    source = small_cnn()
    before = [w.copy() for w in source.get_weights()]
    net = transfer_model(source, 3, mode=mode)
    x, y = data
    dlgen.fit(net, (x, y % 3), epochs=2, batch_size=8, evaluate_train=False)
    moved = any(not np.array_equal(a, b) for a, b in zip(before, source.get_weights()))
    assert moved == source_moves
    assert len(net.trainable_weights) == trainable and net.output_shape == (None, 3)


def test_features_and_bad_arguments():
    source = small_cnn()
    assert feature_extractor(source, "flatten").output_shape == (None, 64)
    with pytest.raises(ValueError, match="no layer 'nope' in model 'cnn'; layers: image"):
        feature_extractor(source, "nope")
    with pytest.raises(ValueError, match="unknown mode 'thaw'; allowed: frozen, fine_tune"):
        transfer_model(source, 3, mode="thaw")
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        transfer_model(source, 0)

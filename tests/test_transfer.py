import keras
import numpy as np
import pytest

import dlgen
from dlgen.transfer import (
    cached_weights,
    feature_extractor,
    imagenet_features,
    imagenet_weights_cached,
    transfer_model,
    weights_path,
)


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


@pytest.mark.integration
def test_imagenet_features_shapes_and_scaling():
    gray = np.zeros((3, 28, 28), np.uint8)
    colour = np.full((2, 40, 40, 3), 0.5, np.float32)
    assert imagenet_features(gray, weights=None).shape == (3, 1280)
    out = imagenet_features(colour, size=128, weights=None, batch_size=1)
    assert out.shape == (2, 1280) and out.dtype == np.float32
    # the same image gives the same features whether it comes as uint8 or as floats in [0, 1]
    img = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    keras.utils.set_random_seed(0)
    a = imagenet_features(img, weights=None)
    keras.utils.set_random_seed(0)
    b = imagenet_features(img.astype("float32") / 255.0, weights=None)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_imagenet_bad_arguments_and_missing_weights(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"size must be one of \(96, 128, 160, 192, 224\), got 100"):
        imagenet_features(np.zeros((1, 28, 28)), size=100, weights=None)
    with pytest.raises(ValueError, match="weights must be 'imagenet' or None, got 'cifar'"):
        imagenet_features(np.zeros((1, 28, 28)), weights="cifar")
    with pytest.raises(ValueError, match=r"got shape \(1, 28, 28, 2\)"):
        imagenet_features(np.zeros((1, 28, 28, 2)), weights=None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert imagenet_weights_cached(96) is False
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5").write_bytes(b"")
    assert imagenet_weights_cached(96) is True

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(RuntimeError, match=r"could not be downloaded \(OSError: no network\).*Colab"):
        imagenet_features(np.zeros((1, 28, 28)))

import keras
import numpy as np
import pytest

import dlgen
from dlgen.augment import augmentation_pipeline, augmented_copies, make_augmentation, with_augmentation


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((16, 12, 12, 1)).astype("float32"), np.arange(16) % 4


def test_stack_holds_only_the_requested_layers_in_order():
    aug = make_augmentation(flip="horizontal", rotation=0.1, translation=0.1, zoom=0.1, contrast=0.2)
    assert [type(layer).__name__ for layer in aug.layers] == [
        "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast"]


def test_transforms_in_training_only(images):
    x, _ = images
    aug = make_augmentation(translation=0.2, seed=1)
    assert np.array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)
    assert np.array_equal(keras.ops.convert_to_numpy(aug(x)), x)  # a plain call is inference
    assert not np.allclose(keras.ops.convert_to_numpy(aug(x, training=True)), x)


def test_horizontal_flip_is_an_exact_mirror(images):
    x, _ = images
    out = keras.ops.convert_to_numpy(make_augmentation(flip="horizontal", seed=0)(x, training=True))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped)


def test_with_augmentation_shares_weights_and_is_identity_at_inference(images):
    x, y = images
    base = dlgen.build_mlp((12, 12, 1), 4, depth=1, units=8)
    net = with_augmentation(base, make_augmentation(translation=0.2))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(net(x)), keras.ops.convert_to_numpy(base(x)),
                               rtol=1e-6)
    np.testing.assert_allclose(net.predict(x, verbose=0), keras.ops.convert_to_numpy(base(x)), rtol=1e-6)
    assert not np.allclose(keras.ops.convert_to_numpy(net(x, training=True)),
                           keras.ops.convert_to_numpy(base(x, training=True)))
    dlgen.fit(net, (x, y), epochs=1, batch_size=8, evaluate_train=False)
    # training the wrapper trained the base model's weights too
    np.testing.assert_allclose(keras.ops.convert_to_numpy(net(x)), keras.ops.convert_to_numpy(base(x)),
                               rtol=1e-6)


def test_augmented_copies_keep_labels_and_shapes(images):
    x, y = images
    xb, yb = augmented_copies(x, y, make_augmentation(rotation=0.1, seed=0), copies=3, batch_size=5)
    assert xb.shape == (64, 12, 12, 1) and xb.dtype == np.float32
    assert np.array_equal(yb, np.tile(y, 4)) and np.array_equal(xb[:16], x)
    xo, _ = augmented_copies(x, y, make_augmentation(rotation=0.1, seed=0), copies=1, include_original=False)
    assert xo.shape == x.shape and not np.allclose(xo, x)


def test_pipeline_yields_augmented_batches(images):
    pytest.importorskip("tensorflow")
    x, y = images
    ds = augmentation_pipeline(x, y, make_augmentation(translation=0.2, seed=0), batch_size=8, seed=0)
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(8, 12, 12, 1)] * 2
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == sorted(y.tolist())


@pytest.mark.parametrize("kwargs, message", [
    (dict(flip="diagonal"), "flip must be None or one of horizontal, vertical, horizontal_and_vertical; got 'diagonal'"),
    (dict(translation=0.7), r"translation must be a number in \[0, 0.5\), got 0.7"),
    (dict(rotation=-0.1), r"rotation must be a number in \[0, 0.5\), got -0.1"),
    (dict(zoom=True), r"zoom must be a number in \[0, 1\), got True"),
    (dict(), "no transformation chosen"),
])
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_augmentation(**kwargs)


def test_bad_arguments_elsewhere(images):
    x, y = images
    with pytest.raises(ValueError, match="copies must be a positive integer, got 0"):
        augmented_copies(x, y, make_augmentation(zoom=0.1), copies=0)
    with pytest.raises(ValueError, match="x and y differ in length: 16 and 3"):
        augmented_copies(x, y[:3], make_augmentation(zoom=0.1), copies=1)
    with pytest.raises(ValueError, match="pass a keras.Model and an augmentation layer"):
        with_augmentation("model", make_augmentation(zoom=0.1))

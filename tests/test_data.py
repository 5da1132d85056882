import gzip
import hashlib
import shutil

import numpy as np
import pytest

import dlgen
from dlgen import data


def test_read_idx_reads_fixture(fashion_dir):
    x = dlgen.read_idx(fashion_dir / "train-images-idx3-ubyte.gz")
    y = dlgen.read_idx(fashion_dir / "train-labels-idx1-ubyte.gz")
    assert x.shape == (30, 28, 28) and x.dtype == np.uint8
    assert y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # published first labels


def test_read_idx_detects_truncation(tmp_path, fashion_dir):
    raw = gzip.open(fashion_dir / "t10k-images-idx3-ubyte.gz").read()
    bad = tmp_path / "t.gz"
    with gzip.open(bad, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(ValueError, match="truncated"):
        dlgen.read_idx(bad)


def test_read_idx_detects_a_broken_gzip(tmp_path, fashion_dir):
    bad = tmp_path / "t.gz"
    bad.write_bytes((fashion_dir / "t10k-images-idx3-ubyte.gz").read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot decompress"):
        dlgen.read_idx(bad)


def test_read_idx_checks_digest(fashion_dir):
    with pytest.raises(ValueError, match="does not match"):
        dlgen.read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz", expected_sha256="0" * 64)


def test_load_fashion_mnist_from_a_folder(fashion_dir):
    (x, y), (xt, yt) = dlgen.load_fashion_mnist(paths=[fashion_dir], verify=False, download=False)
    assert x.shape == (30, 28, 28) and xt.shape == (20, 28, 28)
    assert len(y) == 30 and len(yt) == 20


def _fixture_digests(folder):
    return {
        key: hashlib.sha256(gzip.open(folder / name).read()).hexdigest()
        for key, name in data._FASHION_FILES.items()
    }


def test_verified_copy_loads_and_tampered_copy_is_rejected(tmp_path, fashion_dir, monkeypatch):
    monkeypatch.setattr(data, "_FASHION_SHA256", _fixture_digests(fashion_dir))
    (x, _), _ = dlgen.load_fashion_mnist(paths=[fashion_dir])
    assert len(x) == 30
    # Same bytes recompressed (as Debian did) still pass: the check is on content.
    copy = tmp_path / "recompressed"
    copy.mkdir()
    for name in data._FASHION_FILES.values():
        raw = gzip.open(fashion_dir / name).read()
        with gzip.open(copy / name, "wb", compresslevel=1) as f:
            f.write(raw)
    dlgen.load_fashion_mnist(paths=[copy], download=False)
    # One pixel changed: rejected, and the error says how to get the data.
    name = data._FASHION_FILES["x_test"]
    raw = bytearray(gzip.open(copy / name).read())
    raw[-1] ^= 0xFF
    with gzip.open(copy / name, "wb") as f:
        f.write(bytes(raw))
    with pytest.raises(dlgen.DataUnavailableError, match="does not match") as err:
        dlgen.load_fashion_mnist(paths=[copy], download=False)
    assert "apt-get install dataset-fashion-mnist" in str(err.value)


def test_missing_data_names_every_way_to_get_it(tmp_path):
    with pytest.raises(dlgen.DataUnavailableError) as err:
        dlgen.load_fashion_mnist(paths=[tmp_path / "nowhere"], download=False)
    msg = str(err.value)
    assert "nowhere: not found" in msg
    assert "dataset-fashion-mnist" in msg
    assert "fashion_mnist.load_data()" in msg
    assert "paths=[folder]" in msg
    assert "not attempted (download=False)" in msg


def test_a_failed_download_gives_the_same_clear_error(tmp_path, monkeypatch):
    import keras

    def offline():
        raise OSError("Name or service not known")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(dlgen.DataUnavailableError, match="OSError: Name or service not known") as err:
        dlgen.load_fashion_mnist(paths=[tmp_path])
    assert "dataset-fashion-mnist" in str(err.value)


def test_falls_through_to_the_next_folder(tmp_path, fashion_dir):
    (x, _), _ = dlgen.load_fashion_mnist(paths=[tmp_path, fashion_dir], verify=False)
    assert len(x) == 30


def test_keras_cache_is_looked_in_first(tmp_path, fashion_dir, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    target = tmp_path / "datasets" / "fashion-mnist"
    shutil.copytree(fashion_dir, target)
    assert data._keras_cache_dir() == target


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.exists(), reason="dataset-fashion-mnist not installed")
@pytest.mark.integration
def test_the_installed_dataset_verifies():
    (x, y), (xt, yt) = dlgen.load_fashion_mnist(paths=[data.DEBIAN_FASHION_DIR])
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    assert np.bincount(y).tolist() == [6000] * 10
    assert round(float(x.mean()) / 255, 4) == 0.2860  # published pixel mean


def test_load_digits_and_mnist_5k():
    x, y = dlgen.load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 255
    x, y = dlgen.load_mnist_5k()
    assert x.shape == (5000, 28, 28) and np.bincount(y).tolist() == [500] * 10


def test_load_dataset_dispatches_and_rejects_unknown_names():
    x, _ = dlgen.load_dataset("digits")
    assert len(x) == 1797
    with pytest.raises(ValueError, match=r"Unknown dataset 'cifar10'; allowed: fashion_mnist"):
        dlgen.load_dataset("cifar10")


def test_stratified_subset_is_balanced_and_reproducible():
    x = np.arange(300)
    y = np.repeat(np.arange(3), 100)
    a = dlgen.stratified_subset(x, y, 10, seed=5)
    b = dlgen.stratified_subset(x, y, 10, seed=5)
    c = dlgen.stratified_subset(x, y, 10, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert np.bincount(a[1]).tolist() == [10, 10, 10]
    np.testing.assert_array_equal(y[a[0]], a[1])  # pairs stay together


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_stratified_subset_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="n_per_class must be a positive integer"):
        dlgen.stratified_subset(np.arange(10), np.arange(10) % 2, bad)


def test_stratified_subset_too_few_examples():
    with pytest.raises(ValueError, match="class 0 has 5 examples available, fewer than n_per_class=6"):
        dlgen.stratified_subset(np.arange(10), np.arange(10) % 2, 6)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="3 images and 2 labels"):
        dlgen.stratified_subset(np.zeros(3), np.zeros(2, int), 1)


def test_train_val_split():
    x = np.arange(100)
    y = np.repeat(np.arange(4), 25)
    (xt, yt), (xv, yv) = dlgen.train_val_split(x, y, 0.2, seed=1)
    assert len(xv) == 20 and np.bincount(yv).tolist() == [5, 5, 5, 5]
    assert set(xt).isdisjoint(set(xv))
    (xt2, _), _ = dlgen.train_val_split(x, y, 0.2, seed=1)
    np.testing.assert_array_equal(xt, xt2)
    with pytest.raises(ValueError, match=r"val_fraction must be a share in \(0, 1\) or a count of examples, got 1.5"):
        dlgen.train_val_split(x, y, 1.5)
    (xt, _), (xv, _) = dlgen.train_val_split(x, y, 12, seed=1)
    assert (len(xt), len(xv)) == (88, 12)


def test_to_model_input():
    x = np.full((2, 4, 4), 255, np.uint8)
    out = dlgen.to_model_input(x)
    assert out.shape == (2, 4, 4, 1) and out.dtype == np.float32 and out.max() == 1.0
    assert dlgen.to_model_input(x, flatten=True).shape == (2, 16)
    with pytest.raises(ValueError, match="expected images"):
        dlgen.to_model_input(np.zeros(5))


def test_stratified_indices_can_exclude_a_first_draw():
    y = np.repeat(np.arange(3), 10)
    first = dlgen.stratified_indices(y, 4, seed=0)
    second = dlgen.stratified_indices(y, 6, seed=1, exclude=first)
    assert not set(first) & set(second)
    assert np.bincount(y[second]).tolist() == [6, 6, 6]
    with pytest.raises(ValueError, match="class 0 has 6 examples available"):
        dlgen.stratified_indices(y, 7, exclude=first)


def test_loaded_arrays_are_writable(fashion_dir):
    x = dlgen.read_idx(fashion_dir / "t10k-labels-idx1-ubyte.gz")
    x[0] = 1


def test_make_multilabel_labels_match_the_items_shown():
    y = np.arange(30) % 10
    # Each source image is filled with its class number + 1, so the pixels tell the class.
    x = np.stack([np.full((3, 3), c + 1, np.uint8) for c in y])
    images, labels = dlgen.make_multilabel(x, y, 500, seed=1, empty_prob=0.3)
    assert images.shape == (500, 3, 6) and labels.shape == (500, 10)
    for img, lab in zip(images, labels):
        shown = {int(v) - 1 for v in (img[0, 0], img[0, 3]) if v > 0}
        assert shown, "an example with no item"
        assert set(np.flatnonzero(lab).tolist()) == shown
    counts = labels.sum(axis=1)
    assert set(np.unique(counts)) == {1, 2}
    again, _ = dlgen.make_multilabel(x, y, 500, seed=1, empty_prob=0.3)
    assert np.array_equal(images, again)


def test_make_multilabel_rejects_bad_arguments():
    x = np.zeros((4, 2, 2), np.uint8); y = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match="empty_prob"):
        dlgen.make_multilabel(x, y, 3, empty_prob=1.0)
    with pytest.raises(ValueError, match="n must be"):
        dlgen.make_multilabel(x, y, 0)
    with pytest.raises(ValueError, match="shape"):
        dlgen.make_multilabel(x.reshape(4, 4), y, 3)
    with pytest.raises(ValueError, match="labels must be in"):
        dlgen.make_multilabel(x, y, 3, num_classes=2)


def test_train_val_subsets_equals_draw_then_split():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(600, 2, 2), dtype=np.uint8)
    y = np.repeat(np.arange(3), 200)
    (xt, yt), (xv, yv), used = dlgen.train_val_subsets(x, y, 40, 10, seed=4, split_seed=2)
    drawn = dlgen.stratified_indices(y, 50, seed=4)
    (xt2, yt2), (xv2, yv2) = dlgen.train_val_split(x[drawn], y[drawn], val_fraction=0.2, seed=2)
    assert np.array_equal(used, drawn)
    assert np.array_equal(xt, xt2) and np.array_equal(yv, yv2)
    assert np.bincount(yt).tolist() == [40] * 3 and np.bincount(yv).tolist() == [10] * 3
    more = dlgen.stratified_indices(y, 100, seed=5, exclude=used)
    assert not set(more) & set(used)
    with pytest.raises(ValueError, match="val_per_class"):
        dlgen.train_val_subsets(x, y, 40, 0)


@pytest.mark.parametrize("train_per_class, val_per_class, classes",
                         [(7, 11, 10), (1, 1, 2), (3, 29, 7), (100, 200, 10), (13, 5, 3), (2, 17, 10)])
def test_train_val_subsets_returns_exactly_the_counts_asked_for(train_per_class, val_per_class, classes):
    # A share (val / (train + val)) rounds up in scikit-learn: 7 and 11 per class gave 69 and 111.
    rng = np.random.default_rng(train_per_class * 1000 + val_per_class)
    y = np.repeat(np.arange(classes), train_per_class + val_per_class + 5)
    rng.shuffle(y)
    x = np.arange(len(y))
    for seed in range(3):
        (xt, yt), (xv, yv), used = dlgen.train_val_subsets(x, y, train_per_class, val_per_class, seed=seed)
        assert (len(yt), len(yv)) == (train_per_class * classes, val_per_class * classes)
        assert np.bincount(yv, minlength=classes).tolist() == [val_per_class] * classes
        assert set(xt).isdisjoint(xv) and len(used) == len(xt) + len(xv)


def test_to_model_input_refuses_images_that_are_scaled_already():
    with pytest.raises(ValueError, match=r"got float32 images \(values 0 to 1\); images already scaled"):
        dlgen.to_model_input(np.linspace(0, 1, 32, dtype="float32").reshape(2, 4, 4))
    with pytest.raises(ValueError, match="pixel values must be 0 to 255, got 0 to 300"):
        dlgen.to_model_input(np.array([[[0, 300]]], np.int16))


def test_load_fashion_mnist_refuses_a_single_path_string():
    with pytest.raises(TypeError, match=r"paths must be a list of folders, e.g. \['/data/fm'\], got the single path '/data/fm'"):
        dlgen.load_fashion_mnist(paths="/data/fm", download=False)

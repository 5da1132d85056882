"""Transfer learning: pretrain once (cached as `.weights.h5`), then reuse the features.

- `cached_weights(model, key, train)` gives `model` its trained weights:
  from the weights cache when an entry for `key` exists, otherwise by
  calling `train(model)` and saving the result. Weights are written to a
  temporary file and moved into place, so an interrupted run never leaves
  a half-written entry; they are stored and read only as Keras
  `.weights.h5`, never unpickled.
- `transfer_model(source, num_classes, mode)` builds a new classifier on
  the source model's features: `"frozen"` (only the new head trains) or
  `"fine_tune"` (everything trains, usually with a lower learning rate).
- `imagenet_features(images)` computes frozen ImageNet features
  (Keras's `MobileNetV2`) for small gray or colour images. Its weights are
  downloaded once by Keras; `imagenet_weights_cached()` says whether they
  are on this machine already, so that an offline run can skip cleanly.
"""

import hashlib
import json
import os
import pathlib
import tempfile

import keras

from .cache import default_cache_dir

__all__ = [
    "TRANSFER_MODES",
    "cached_weights",
    "feature_extractor",
    "imagenet_features",
    "imagenet_weights_cached",
    "transfer_model",
    "weights_path",
]

IMAGENET_SIZES = (96, 128, 160, 192, 224)
"""Input sizes for which Keras publishes ImageNet weights of `MobileNetV2`."""

TRANSFER_MODES = ("frozen", "fine_tune")
"""Modes of `transfer_model`."""


def weights_path(key, cache_dir=None):
    """Where `cached_weights` keeps the weights for `key` (a JSON-serializable description).

    >>> weights_path({"source": "demo", "epochs": 2}, "/tmp/c").name.endswith(".weights.h5")
    True
    """
    try:
        text = json.dumps(key, sort_keys=True)
    except TypeError as err:
        raise ValueError(f"key must be JSON-serializable (numbers, strings, lists, dicts), got {key!r}.") from err
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    folder = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / "weights" / f"{digest}.weights.h5"


def cached_weights(model, key, train, cache_dir=None):
    """Load `model`'s weights for `key` from the cache, or train it and cache them.

    Args:
        model: a built `keras.Model` (its architecture must match the cached
            weights; put everything that defines it into `key`).
        key: a JSON-serializable description of how the weights are made
            (architecture, data fingerprint, epochs, seed, ...).
        train: `train(model)`, called only on a cache miss; it trains `model`
            in place.
        cache_dir: cache folder (default: `dlgen.default_cache_dir()`).

    Returns:
        `True` if the weights came from the cache, `False` if they were trained now.

    Example:

    >>> import numpy as np, tempfile
    >>> from dlgen.models import build_mlp
    >>> folder = tempfile.mkdtemp()
    >>> def train(m): m.layers[-1].kernel.assign(np.ones(m.layers[-1].kernel.shape))
    >>> cached_weights(build_mlp((3,), 2, depth=0), {"demo": 1}, train, folder)
    False
    >>> again = build_mlp((3,), 2, depth=0)
    >>> cached_weights(again, {"demo": 1}, train, folder), float(again.layers[-1].get_weights()[0].min())
    (True, 1.0)
    """
    path = weights_path(key, cache_dir)
    if path.exists():
        model.load_weights(path)
        return True
    train(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:20]}.", suffix=".weights.h5")
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        pathlib.Path(tmp).unlink(missing_ok=True)
    return False


def feature_extractor(model, layer=None):
    """The part of `model` from its input up to `layer` (default: the layer before the last).

    The returned model shares layers and weights with `model`.

    >>> from dlgen.models import build_cnn
    >>> feature_extractor(build_cnn(filters=(4,), dense_units=8)).output_shape
    (None, 8)
    """
    if layer is None:
        if len(model.layers) < 3:
            raise ValueError(f"model {model.name!r} has too few layers to cut off its head.")
        out = model.layers[-2].output
    else:
        names = [layer_.name for layer_ in model.layers]
        if layer not in names:
            raise ValueError(f"no layer {layer!r} in model {model.name!r}; layers: {', '.join(names)}.")
        out = model.get_layer(layer).output
    return keras.Model(model.inputs, out, name=f"{model.name}_features")


def transfer_model(source, num_classes, mode="frozen", layer=None, name=None):
    """A new classifier on `source`'s features, with a fresh output layer.

    Args:
        source: a trained `keras.Model`.
        num_classes: classes of the target task.
        mode: `"frozen"` (the source layers do not train) or `"fine_tune"`
            (they train along with the new head).
        layer: where to cut `source` (see `feature_extractor`).
        name: name of the new model (default `transfer_<mode>`).

    Returns:
        An uncompiled `keras.Model`. Its feature layers are the source's own
        (shared), so build a fresh source (or reload its weights) for each
        run that trains them.

    Example:

    >>> from dlgen.models import build_cnn
    >>> net = transfer_model(build_cnn(filters=(4,), dense_units=8), 3, mode="frozen")
    >>> net.output_shape, len(net.trainable_weights)
    ((None, 3), 2)
    """
    if mode not in TRANSFER_MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(TRANSFER_MODES)}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    base = feature_extractor(source, layer)
    base.trainable = mode == "fine_tune"
    inputs = keras.Input(source.input_shape[1:])
    # training=False keeps layers such as batch normalization in inference mode when frozen
    features = base(inputs, training=False) if mode == "frozen" else base(inputs)
    outputs = keras.layers.Dense(num_classes, name="target_logits")(features)
    return keras.Model(inputs, outputs, name=name or f"transfer_{mode}")


def _imagenet_weights_file(size):
    # Keras's own name for the weights of MobileNetV2 (alpha 1.0) without its classifier
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5"


def imagenet_weights_cached(size=96):
    """Whether Keras has the ImageNet weights of `MobileNetV2` (input `size`) on this machine.

    Keras keeps downloaded weights in `$KERAS_HOME/models` (default
    `~/.keras/models`).

    >>> imagenet_weights_cached(96) in (True, False)
    True
    """
    if size not in IMAGENET_SIZES:
        raise ValueError(f"size must be one of {IMAGENET_SIZES}, got {size!r}.")
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.exists(os.path.join(home, "models", _imagenet_weights_file(size)))


def imagenet_features(images, size=96, weights="imagenet", batch_size=64):
    """Frozen `MobileNetV2` features (1,280 per image, average-pooled) of `images`.

    Args:
        images: `(n, h, w)` or `(n, h, w, c)` with `c` 1 or 3, `uint8` in
            0..255 or floats in [0, 1] (as `dlgen.to_model_input` gives).
            Gray images are repeated into three channels; all are resized to
            `size` x `size` and scaled to [-1, 1] as `MobileNetV2` expects.
        size: input size, one of `IMAGENET_SIZES`.
        weights: `"imagenet"` (downloaded by Keras on first use, about
            9 MB) or `None` (random weights, for tests).
        batch_size: images per forward pass.

    Returns:
        A float32 array `(n, 1280)`.

    Raises:
        RuntimeError: the ImageNet weights are not on this machine and cannot
            be downloaded; the message says what to do.

    Example (random weights, no download):

    >>> import numpy as np
    >>> imagenet_features(np.zeros((2, 28, 28), np.uint8), weights=None).shape
    (2, 1280)
    """
    import numpy as np

    if size not in IMAGENET_SIZES:
        raise ValueError(f"size must be one of {IMAGENET_SIZES}, got {size!r}.")
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}.")
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"expected images (n, h, w) or (n, h, w, 1 or 3), got shape {x.shape}.")
    x = x.astype("float32")
    if x.max(initial=0.0) > 1.0:
        x = x / 255.0
    try:
        base = keras.applications.MobileNetV2(
            input_shape=(size, size, 3), include_top=False, weights=weights, pooling="avg"
        )
    except Exception as err:  # the download failed: offline, or blocked
        raise RuntimeError(
            f"The ImageNet weights of MobileNetV2 ({_imagenet_weights_file(size)}) are not in "
            f"$KERAS_HOME/models and could not be downloaded ({type(err).__name__}: {err}). "
            "Run once with internet access (for example on Colab), or copy the file there."
        ) from err
    out = []
    for start in range(0, len(x), batch_size):
        batch = keras.ops.image.resize(x[start : start + batch_size], (size, size))
        if batch.shape[-1] == 1:
            batch = keras.ops.repeat(batch, 3, axis=-1)
        out.append(keras.ops.convert_to_numpy(base(batch * 2.0 - 1.0, training=False)))
    return np.concatenate(out).astype("float32") if out else np.zeros((0, 1280), "float32")

"""Data augmentation with Keras preprocessing layers, in three places.

- **Inside the model** (`with_augmentation`): the random layers run as the
  first layers of the network, on every training batch, and pass images
  through unchanged at inference. Portable and deterministic under
  `dlgen.set_seed`, but the work runs wherever the model runs.
- **In a data pipeline** (`augmentation_pipeline`): the layers run inside a
  `tf.data` map, in parallel with training. Needs TensorFlow installed
  (any Keras backend can consume the dataset); random ops in a parallel map
  are not reproducible run to run.
- **Once, ahead of training** (`augmented_copies`): a fixed number of
  augmented copies of the training set, stored as arrays. Cheapest per
  epoch, but the network sees the same few variants again and again.

`make_augmentation` builds the layer stack from plain settings.
"""

import keras
import numpy as np

from ._checks import check_int

__all__ = ["AugmentationStack", "make_augmentation", "with_augmentation", "augmented_copies", "augmentation_pipeline"]

_FLIPS = ("horizontal", "vertical", "horizontal_and_vertical")


def _fraction(name, value, high=1.0):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value < high:
        raise ValueError(f"{name} must be a number in [0, {high:g}), got {value!r}.")
    return float(value)


@keras.saving.register_keras_serializable(package="dlgen")
class AugmentationStack(keras.Sequential):
    """A `keras.Sequential` of random layers that transforms in training mode only.

    Keras's random preprocessing layers transform their input whenever they
    are called without `training=False`, so calling a model that contains
    them directly, `model(x)`, would augment at inference. This stack
    defaults to `training=False`: it transforms only when Keras passes
    `training=True`, as `fit` does.

    Example:

    >>> stack = make_augmentation(flip="horizontal", seed=0)
    >>> x = np.arange(4, dtype="float32").reshape(1, 2, 2, 1)
    >>> isinstance(stack, AugmentationStack), bool((np.asarray(stack(x)) == x).all())
    (True, True)
    """

    def call(self, inputs, training=False, mask=None):
        return super().call(inputs, training=training, mask=mask)


def make_augmentation(flip=None, translation=0.0, rotation=0.0, zoom=0.0, contrast=0.0, seed=None,
                      name="augmentation"):
    """A `keras.Sequential` of Keras's random preprocessing layers.

    Only the transformations asked for are included, in the order flip,
    rotation, translation, zoom, contrast. The stack (an `AugmentationStack`)
    transforms only in training mode (`training=True`, as inside `fit`);
    called any other way it passes images through unchanged.

    Args:
        flip: `None`, `"horizontal"`, `"vertical"` or `"horizontal_and_vertical"`.
        translation: largest shift, as a fraction of height and width.
        rotation: largest rotation, as a fraction of a full turn (0.05 = 18 degrees).
        zoom: largest zoom in or out, as a fraction of the size.
        contrast: largest contrast change factor.
        seed: seed of the layers' random draws (`None`: from the global seed).
        name: name of the stack.

    Example:

    >>> aug = make_augmentation(translation=0.1, zoom=0.1, seed=0)
    >>> [layer.__class__.__name__ for layer in aug.layers]
    ['RandomTranslation', 'RandomZoom']
    >>> x = np.ones((2, 28, 28, 1), "float32")
    >>> bool((np.asarray(aug(x)) == x).all()), bool((np.asarray(aug(x, training=True)) == x).all())
    (True, False)
    """
    if flip is not None and flip not in _FLIPS:
        raise ValueError(f"flip must be None or one of {', '.join(_FLIPS)}; got {flip!r}.")
    translation = _fraction("translation", translation, 0.5)
    rotation = _fraction("rotation", rotation, 0.5)
    zoom = _fraction("zoom", zoom, 1.0)
    contrast = _fraction("contrast", contrast, 1.0)
    L = keras.layers
    layers = []
    if flip:
        layers.append(L.RandomFlip(flip, seed=seed))
    if rotation:
        layers.append(L.RandomRotation(rotation, fill_mode="constant", seed=seed))
    if translation:
        layers.append(L.RandomTranslation(translation, translation, fill_mode="constant", seed=seed))
    if zoom:
        layers.append(L.RandomZoom(zoom, zoom, fill_mode="constant", seed=seed))
    if contrast:
        layers.append(L.RandomContrast(contrast, seed=seed))
    if not layers:
        raise ValueError("no transformation chosen: set at least one of flip, translation, "
                         "rotation, zoom, contrast.")
    return AugmentationStack(layers, name=name)


def with_augmentation(model, augmentation):
    """`model` with `augmentation` run on its input first (training mode only).

    Returns a new functional model that shares `model`'s layers and weights.

    Example:

    >>> from dlgen.models import build_mlp
    >>> net = with_augmentation(build_mlp(units=8), make_augmentation(translation=0.1))
    >>> net.name, net.layers[1].name
    ('mlp_augmented', 'augmentation')
    """
    if not isinstance(model, keras.Model) or not isinstance(augmentation, keras.layers.Layer):
        raise ValueError("pass a keras.Model and an augmentation layer (see make_augmentation).")
    inputs = keras.Input(model.input_shape[1:])
    return keras.Model(inputs, model(augmentation(inputs)), name=f"{model.name}_augmented")


def augmented_copies(x, y, augmentation, copies, batch_size=256, include_original=True):
    """A training set enlarged once, ahead of training, with augmented copies.

    Args:
        x, y: images `(n, height, width, channels)` and labels.
        augmentation: a layer (e.g. from `make_augmentation`), run in training mode.
        copies: number of augmented copies of every image (positive integer).
        batch_size: images per call of the layer.
        include_original: keep the original images too.

    Returns:
        `(x_big, y_big)` NumPy arrays, float32 images.

    Example:

    >>> x = np.random.rand(10, 8, 8, 1).astype("float32"); y = np.arange(10)
    >>> xb, yb = augmented_copies(x, y, make_augmentation(translation=0.2, seed=0), copies=2)
    >>> xb.shape, yb[:3].tolist(), yb[10:13].tolist()
    ((30, 8, 8, 1), [0, 1, 2], [0, 1, 2])
    """
    copies = check_int("copies", copies, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} and {len(y)}.")
    parts = [x] if include_original else []
    for _ in range(copies):
        out = [keras.ops.convert_to_numpy(augmentation(x[i:i + batch_size], training=True))
               for i in range(0, len(x), batch_size)]
        parts.append(np.concatenate(out).astype("float32"))
    return np.concatenate(parts), np.concatenate([y] * len(parts))


def augmentation_pipeline(x, y, augmentation, batch_size, seed=0):
    """A shuffled, batched `tf.data.Dataset` that augments each batch in a parallel map.

    Requires TensorFlow (the dataset works with any Keras backend's `fit`).
    Shuffling is seeded; the parallel map's random draws are not
    reproducible from run to run.

    Raises:
        ImportError: TensorFlow is not installed, with what to do instead.

    Example:

    >>> x, y = np.zeros((64, 28, 28, 1), "float32"), np.zeros(64, "int64")
    >>> ds = augmentation_pipeline(x, y, make_augmentation(translation=0.1, seed=0), batch_size=32)
    >>> model.fit(ds, epochs=2)  # doctest: +SKIP
    """
    try:
        import tensorflow as tf
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("augmentation_pipeline needs TensorFlow (pip install tensorflow-cpu); "
                          "without it, put the augmentation inside the model "
                          "(dlgen.with_augmentation).") from err
    batch_size = check_int("batch_size", batch_size, 1)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, "float32"), np.asarray(y)))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    ds = ds.map(lambda a, b: (augmentation(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)

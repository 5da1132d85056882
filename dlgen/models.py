"""MLP and CNN builders with the knobs the book turns.

Every builder returns an uncompiled, named `keras.Model`; compile and train
it with `dlgen.fit` or plain Keras.
"""

import keras

from ._checks import check_int

__all__ = ["build_mlp", "build_cnn"]


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be a number in [0, 1), got {rate!r}.")
    return float(rate)


def _regularizer(l1, l2):
    for name, v in (("l1", l1), ("l2", l2)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ValueError(f"{name} must be a non-negative number, got {v!r}.")
    if l1 == 0 and l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=float(l1), l2=float(l2))


def _check_shape(input_shape):
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
        isinstance(d, int) and d > 0 for d in input_shape
    ):
        raise ValueError(f"input_shape must be a tuple of positive integers, got {input_shape!r}.")
    return tuple(input_shape)


def _fresh(initializer):
    """A new copy of an initializer instance for each layer.

    Keras gives an unseeded initializer instance a fixed seed when it is
    created, so one instance shared by several layers would draw the same
    weights for every layer of the same shape.
    """
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer


def _hidden_block(x, units, activation, kernel_initializer, batch_norm, dropout, reg, i):
    x = keras.layers.Dense(
        units,
        use_bias=not batch_norm,
        kernel_initializer=_fresh(kernel_initializer),
        kernel_regularizer=reg,
        name=f"dense_{i}",
    )(x)
    if batch_norm:
        # "synchronized": in data-parallel training, statistics over the global
        # batch rather than each replica's share (TensorFlow; JAX's data-parallel
        # programs compute over the global batch anyway).
        x = keras.layers.BatchNormalization(synchronized=batch_norm == "synchronized", name=f"bn_{i}")(x)
    x = keras.layers.Activation(activation, name=f"act_{i}")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return x


def build_mlp(
    input_shape=(28, 28, 1),
    num_classes=10,
    depth=2,
    units=256,
    activation="relu",
    kernel_initializer="glorot_uniform",
    batch_norm=False,
    dropout=0.0,
    input_dropout=0.0,
    l1=0.0,
    l2=0.0,
    output_activation=None,
    name="mlp",
):
    """A multilayer perceptron: flatten, `depth` hidden layers, output layer.

    Each hidden layer is Dense, then (optionally) BatchNormalization, the
    activation and Dropout.

    Args:
        input_shape: shape of one example, e.g. `(28, 28, 1)`.
        num_classes: number of output units.
        depth: number of hidden layers (0 gives a linear model).
        units: width of every hidden layer.
        activation: hidden activation, any Keras activation name.
        kernel_initializer: any Keras initializer (name or instance); an
            unseeded instance is copied for each layer, so layers do not
            share their initial weights.
        batch_norm: add BatchNormalization before each activation; `True`,
            or `"synchronized"` for statistics over the global batch in
            data-parallel training (see `dlgen.fit`'s `distribution`).
        dropout: dropout rate after each hidden layer, in [0, 1).
        input_dropout: dropout rate on the flattened input, in [0, 1).
        l1, l2: weight penalties on every Dense kernel.
        output_activation: `None` returns logits (use a loss with
            `from_logits=True`, as `dlgen.fit` does); or e.g. `"softmax"`.
        name: model name.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> model = build_mlp((8, 8, 1), num_classes=10, depth=2, units=32, dropout=0.5)
    >>> model.output_shape
    (None, 10)
    """
    input_shape = _check_shape(input_shape)
    check_int("num_classes", num_classes, 1)
    check_int("depth", depth, 0)
    check_int("units", units, 1)
    if batch_norm not in (False, True, "synchronized"):
        raise ValueError(f"batch_norm must be False, True or 'synchronized', got {batch_norm!r}.")
    dropout = _check_rate(dropout)
    input_dropout = _check_rate(input_dropout)
    reg = _regularizer(l1, l2)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    if input_dropout > 0:
        x = keras.layers.Dropout(input_dropout, name="input_dropout")(x)
    for i in range(1, depth + 1):
        x = _hidden_block(x, units, activation, kernel_initializer, batch_norm, dropout, reg, i)
    outputs = keras.layers.Dense(
        num_classes,
        activation=output_activation,
        kernel_initializer=_fresh(kernel_initializer),
        kernel_regularizer=reg,
        name="logits" if output_activation is None else "output",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def build_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    filters=(32, 64),
    kernel_size=3,
    dense_units=128,
    activation="relu",
    kernel_initializer="he_uniform",
    batch_norm=False,
    dropout=0.0,
    l1=0.0,
    l2=0.0,
    output_activation=None,
    name="cnn",
):
    """A small convolutional net: conv blocks, then a dense head.

    Each block is Conv2D ("same" padding), optional BatchNormalization, the
    activation and 2x2 max pooling. The head is Flatten, optional Dropout,
    Dense(`dense_units`) (if > 0), optional Dropout and the output layer.

    Args:
        input_shape: shape of one image, `(height, width, channels)`.
        num_classes: number of output units.
        filters: number of filters of each conv block.
        kernel_size: conv kernel size.
        dense_units: width of the dense layer of the head; 0 for none.
        activation: as in `build_mlp`; so are `kernel_initializer`,
            `batch_norm`, `dropout`, `l1`, `l2`, `output_activation` and `name`.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> build_cnn((28, 28, 1), filters=(8, 16), dense_units=32).output_shape
    (None, 10)
    """
    input_shape = _check_shape(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.")
    check_int("num_classes", num_classes, 1)
    if not filters or not all(isinstance(f, int) and f > 0 for f in filters):
        raise ValueError(f"filters must be a non-empty sequence of positive integers, got {filters!r}.")
    check_int("dense_units", dense_units, 0)
    dropout = _check_rate(dropout)
    reg = _regularizer(l1, l2)
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(
            f,
            kernel_size,
            padding="same",
            use_bias=not batch_norm,
            kernel_initializer=_fresh(kernel_initializer),
            kernel_regularizer=reg,
            name=f"conv_{i}",
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"bn_{i}")(x)
        x = keras.layers.Activation(activation, name=f"act_{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="dropout_features")(x)
    if dense_units:
        x = keras.layers.Dense(
            dense_units,
            activation=activation,
            kernel_initializer=_fresh(kernel_initializer),
            kernel_regularizer=reg,
            name="dense",
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name="dropout_dense")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation=output_activation,
        kernel_regularizer=reg,
        name="logits" if output_activation is None else "output",
    )(x)
    return keras.Model(inputs, outputs, name=name)

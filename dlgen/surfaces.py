"""Two-dimensional loss surfaces and the paths Keras optimizers take on them.

A `Surface` is a function of a point `(x, y)` with its exact gradient, written
in NumPy. `trajectory` puts the point in a `keras.Variable` and lets a real
Keras optimizer (`keras.optimizers.SGD`, `Adam`, ...) update it with
`apply_gradients`, exactly as it updates a network's weights, so the paths
show what the optimizers do, not a re-implementation of them.
"""

import dataclasses

import keras
import matplotlib.pyplot as plt
import numpy as np

from ._checks import check_int

__all__ = [
    "Surface",
    "ill_conditioned_quadratic",
    "rosenbrock",
    "saddle",
    "trajectory",
    "steps_to_tolerance",
    "plot_surface",
]


@dataclasses.dataclass(frozen=True)
class Surface:
    """A 2-D loss surface.

    Attributes:
        name: label for plots.
        f: `f(points) -> values`, points of shape `(..., 2)`.
        grad: `grad(point) -> (2,)` gradient at one point.
        minimum: a point where `f` takes its smallest value.
        bounds: `((xmin, xmax), (ymin, ymax))` of the region worth plotting.
        start: a starting point that shows the surface's difficulty.

    Example:

    >>> s = rosenbrock()
    >>> s.minimum, float(s.f(np.array(s.minimum))), float(np.abs(s.grad(np.array(s.minimum))).max())
    ((1.0, 1.0), 0.0, 0.0)
    """

    name: str
    f: object
    grad: object
    minimum: tuple
    bounds: tuple
    start: tuple

    def gap(self, point):
        """`f(point) - f(minimum)`: how far above the minimum a point is."""
        point = np.asarray(point, dtype=float)
        with np.errstate(over="ignore", invalid="ignore"):  # diverged points give inf/NaN
            return self.f(point) - float(self.f(np.asarray(self.minimum, dtype=float)))


def ill_conditioned_quadratic(condition=50.0):
    """`f = (x² + condition · y²) / 2`: a valley `condition` times steeper across than along.

    Gradient descent must keep its step below `2 / condition` to stay
    stable across the valley, so it crawls along it.

    Example:

    >>> s = ill_conditioned_quadratic(10.0)
    >>> float(s.f(np.array([1.0, 1.0]))), s.grad(np.array([1.0, 1.0])).tolist()
    (5.5, [1.0, 10.0])
    """
    condition = float(condition)
    if not condition >= 1.0:
        raise ValueError(f"condition must be >= 1, got {condition!r}.")

    def f(p):
        p = np.asarray(p, dtype=float)
        return 0.5 * (p[..., 0] ** 2 + condition * p[..., 1] ** 2)

    def grad(p):
        p = np.asarray(p, dtype=float)
        return np.array([p[0], condition * p[1]])

    return Surface(f"quadratic (condition {condition:g})", f, grad, (0.0, 0.0),
                   ((-2.5, 2.5), (-1.2, 1.2)), (-2.0, 1.0))


def rosenbrock(a=1.0, b=100.0):
    """Rosenbrock's banana valley `f = (a - x)² + b (y - x²)²`, minimum at `(a, a²)`.

    Example:

    >>> s = rosenbrock()
    >>> float(s.f(np.array(s.minimum))), s.grad(np.array([0.0, 0.0])).tolist()
    (0.0, [-2.0, 0.0])
    """
    a, b = float(a), float(b)

    def f(p):
        p = np.asarray(p, dtype=float)
        return (a - p[..., 0]) ** 2 + b * (p[..., 1] - p[..., 0] ** 2) ** 2

    def grad(p):
        x, y = np.asarray(p, dtype=float)
        return np.array([-2 * (a - x) - 4 * b * x * (y - x * x), 2 * b * (y - x * x)])

    return Surface("Rosenbrock", f, grad, (a, a * a), ((-2.0, 2.0), (-1.0, 3.0)), (-1.5, 2.0))


def saddle():
    """`f = x² + y⁴/4 - y²/2`: a saddle at the origin between minima at `(0, ±1)`.

    Started next to the saddle, the gradient along `y` is tiny, so plain
    gradient descent lingers there before it escapes.

    Example:

    >>> s = saddle()
    >>> float(s.f(np.array([0.0, 1.0]))), s.grad(np.array([0.0, 0.0])).tolist()
    (-0.25, [0.0, 0.0])
    """

    def f(p):
        p = np.asarray(p, dtype=float)
        return p[..., 0] ** 2 + p[..., 1] ** 4 / 4 - p[..., 1] ** 2 / 2

    def grad(p):
        x, y = np.asarray(p, dtype=float)
        return np.array([2 * x, y ** 3 - y])

    return Surface("saddle", f, grad, (0.0, 1.0), ((-1.5, 1.5), (-0.6, 1.6)), (1.2, 1e-3))


def trajectory(surface, optimizer, start=None, steps=100, cache=None):
    """Path of a Keras optimizer on `surface`.

    The point is a `keras.Variable`; each step evaluates the exact gradient
    there and calls `optimizer.apply_gradients`.

    Args:
        surface: a `Surface`.
        optimizer: a fresh `keras.optimizers.Optimizer` (its state, e.g.
            momentum, starts empty; do not reuse one between paths).
        start: starting point (default: `surface.start`).
        steps: number of updates, a non-negative integer.
        cache: `True` (the default `dlgen.ResultsCache`) or a `ResultsCache`
            to store the path and serve it again. The key holds the surface's
            values and gradients at fixed probe points (so two surfaces
            with one name do not share paths), the optimizer's class and
            configuration, the start, the steps and the versions of dlgen,
            Keras and the backend. `None` (the default) always computes.

    Returns:
        `(steps + 1, 2)` array of points, the start first. The path stops
        early (and is padded with NaN) if a point becomes non-finite.

    Example:

    >>> path = trajectory(ill_conditioned_quadratic(), keras.optimizers.SGD(0.01), steps=3)
    >>> path.shape, path[0].tolist()
    ((4, 2), [-2.0, 1.0])
    """
    steps = check_int("steps", steps, 0)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"optimizer must be a keras Optimizer instance, got {optimizer!r}.")
    start = surface.start if start is None else start
    start = np.asarray(start, dtype="float32")
    if start.shape != (2,):
        raise ValueError(f"start must be a point (x, y), got shape {start.shape}.")
    if cache:
        from .cache import as_cache, environment

        store = as_cache(cache)
        probes = np.array([[-1.5, 0.5], [0.3, -0.7], [1.1, 1.3]])
        key = store.key({
            "kind": "trajectory", "surface": surface.name,
            "f": np.round(np.asarray(surface.f(probes), dtype="float64"), 10).tolist(),
            "grad": [np.round(np.asarray(surface.grad(p), dtype="float64"), 10).tolist() for p in probes],
            "optimizer": type(optimizer).__name__,
            "config": {k: v for k, v in optimizer.get_config().items() if k != "name"},
            "start": start.tolist(), "steps": steps, "environment": environment(),
        })
        hit = store.get(key)
        if hit is not None:  # JSON has no inf or nan: they are stored as "inf", "-inf", "nan"
            return np.array([[float(v) for v in row] for row in hit], dtype="float64")
        path = trajectory(surface, optimizer, start=start, steps=steps)
        store.put(key, [[float(v) if np.isfinite(v) else str(float(v)) for v in row] for row in path])
        return path
    point = keras.Variable(start, dtype="float32", name="point")
    path = np.full((steps + 1, 2), np.nan)
    path[0] = start
    for i in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging path ends below
            g = surface.grad(np.array(point.numpy())).astype("float32")
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), point)])
        path[i] = np.array(point.numpy())
        if not np.isfinite(path[i]).all():
            break
    return path


def steps_to_tolerance(surface, path, tol):
    """First step at which the path is within `tol` of the minimum value, or `None`.

    Example:

    >>> s = ill_conditioned_quadratic()
    >>> steps_to_tolerance(s, np.array([[1.0, 1.0], [0.1, 0.0], [0.0, 0.0]]), 0.01)
    1
    """
    if not float(tol) > 0:
        raise ValueError(f"tol must be positive, got {tol!r}.")
    gaps = surface.gap(np.asarray(path, dtype=float))
    hit = np.flatnonzero(np.isfinite(gaps) & (gaps <= tol))
    return int(hit[0]) if len(hit) else None


def plot_surface(surface, paths=None, ax=None, levels=30, log_levels=True):
    """Contour plot of `surface` with optimizer paths drawn on top.

    Args:
        surface: a `Surface`.
        paths: `{label: (steps + 1, 2) array}` from `trajectory`.
        ax: axes to draw on.
        levels: number of contour levels.
        log_levels: space the levels logarithmically above the minimum
            (shows narrow valleys).

    Returns:
        The `Axes`.

    Example:

    >>> s = saddle()
    >>> path = trajectory(s, keras.optimizers.SGD(0.1), steps=20)
    >>> ax = plot_surface(s, {"SGD": path})
    >>> [line.get_label() for line in ax.lines][:1]
    ['SGD']
    >>> plt.close(ax.figure)
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    (x0, x1), (y0, y1) = surface.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    z = surface.gap(np.stack([xs, ys], axis=-1))
    if log_levels:
        lv = np.geomspace(max(z[z > 0].min(), 1e-4), z.max(), levels)
    else:
        lv = np.linspace(z.min(), z.max(), levels)
    ax.contour(xs, ys, z, levels=lv, cmap="Greys", linewidths=0.6)
    for label, path in (paths or {}).items():
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], ".-", ms=2, lw=1, label=label)
    ax.plot(*surface.minimum, "k*", ms=10)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(surface.name)
    return ax

"""Small helpers for the chapters' text: glue numbers into the book."""

import numbers

__all__ = ["glue"]


def _plain(value):
    # NumPy scalars become Python ones, so the book shows `0.5`, not
    # `np.float64(0.5)`, and format specs like `:.3f` apply.
    if isinstance(value, numbers.Number) and hasattr(value, "item"):
        return value.item()
    return value


def glue(name, value=None, display=False):
    """Store values under names for `{glue}` roles in the book's text.

    Uses `myst_nb.glue` when MyST-NB is installed (the book build); elsewhere
    (e.g. a chapter opened on Colab) nothing is stored, so chapters run
    unchanged.

    Args:
        name: the key used in the text, e.g. ``{glue:text}`gap_none:.3f```;
            or a dict `{name: value}` to glue several values at once.
        value: a number, string, DataFrame or figure (ignored for a dict).
        display: also show the value in the notebook.

    Returns:
        `value` (or the dict).

    Example:

    >>> glue({"gap": 0.25, "rate": 0.5})
    {'gap': 0.25, 'rate': 0.5}
    """
    if isinstance(name, dict):
        for key, item in name.items():
            glue(key, item, display=display)
        return name
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue names must be identifiers, got {name!r}.")
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if display:
            from IPython.display import display as _display

            _display(value)
        return value
    _glue(name, _plain(value), display=display)
    return value

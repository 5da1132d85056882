"""Small helpers for the chapters' text: glue numbers into the book."""

__all__ = ["glue"]


def glue(name, value, display=False):
    """Store `value` under `name` for `{glue}` roles in the book's text.

    Uses `myst_nb.glue` when MyST-NB is installed (the book build); elsewhere
    (e.g. a chapter opened on Colab) it only returns the value, so chapters
    run unchanged.

    Args:
        name: the key used in the text, e.g. ``{glue:text}`gap_0`:.3f``.
        value: a number, string, DataFrame or figure.
        display: also show the value in the notebook.

    Returns:
        `value`.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if display:
            from IPython.display import display as _display

            _display(value)
        return value
    _glue(name, value, display=display)
    return value

"""Print the notebooks whose executed outputs are not in a Jupyter Book execution cache.

    python .ci/stale_notebooks.py _build/.jupyter_cache notebooks/*.ipynb

Used by `make book`: only these need executing (two at a time, under nbval)
before the build; a notebook whose code is unchanged since the last build is
served from the cache. The match is jupyter-cache's own, the one the book
build uses (the code cells and the kernel).
"""

import pathlib
import sys


def stale(cache_path, notebooks):
    import nbformat

    if not pathlib.Path(cache_path).exists():
        return list(notebooks)
    from jupyter_cache import get_cache

    cache = get_cache(cache_path)
    out = []
    for path in notebooks:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            out.append(path)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(" ".join(stale(sys.argv[1], sys.argv[2:])))

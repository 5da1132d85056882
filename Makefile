# The book's two commands are `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going
NOTEBOOKS := $(filter-out notebooks/_%,$(wildcard notebooks/*.ipynb))
# Chapters executed at a time by nbval (make test, make book).
NBVAL_WORKERS ?= 2

.PHONY: help venv book test unit integration notebooks book-quick site-check bench lab strip clean backends floor

help:
	@echo "make book    execute every chapter (full budget) and build the HTML book into _build/html/"
	@echo "make test    unit tests, every chapter in quick mode under nbval, quick book build with -W,"
	@echo "             then the built site checked: links, and pages rendered in headless Chromium"
	@echo "make bench   dlgen.fit against plain model.fit, then time and peak memory of each chapter,"
	@echo "             quick and full, from a cold cache"
	@echo "make backends  unit tests under every Keras backend (TensorFlow, JAX, PyTorch), chapters under JAX"
	@echo "make floor   unit tests and two chapters with the oldest TensorFlow and Keras that pyproject.toml admits"
	@echo "make lab     open the chapters in JupyterLab"
	@echo "make strip   remove outputs from the notebooks before committing"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cpu,book,test]"
	touch $(STAMP)

venv: $(STAMP)

# Full budget. The execution cache lives in _build/.jupyter_cache, apart from
# the quick build's, so quick outputs never reach the published book.
# The build executes chapters one after the other, and a chapter's small
# models keep about one core busy; so the chapters the cache lacks first run
# two at a time under nbval (their claim checks hold in the full budget too),
# which fills dlgen's results cache, and the build's own execution then takes
# their experiments from it. After a prose-only edit nothing runs twice.
book: $(STAMP) _build/.dlgen-stamp
	@stale="$$($(PY) .ci/stale_notebooks.py _build/.jupyter_cache $(NOTEBOOKS))"; \
	if [ -n "$$stale" ]; then \
		echo "== executing, $(NBVAL_WORKERS) at a time: $$stale"; \
		DLGEN_QUICK=0 $(PY) -m pytest --nbval-lax $$stale -q -p no:cacheprovider \
			-o addopts="" -o testpaths=notebooks -n $(NBVAL_WORKERS) --dist loadfile || exit 1; \
	fi
	DLGEN_QUICK=0 $(JB) build . $(BOOK_FLAGS)

# jupyter-cache keys on a notebook's code only: when dlgen changes, the
# executed outputs of both builds are dropped so the chapters run again.
_build/.dlgen-stamp: $(wildcard dlgen/*.py)
	rm -rf _build/.jupyter_cache _build/quick/_build/.jupyter_cache
	mkdir -p _build && touch $@

test: unit notebooks integration book-quick site-check

# dlgen's unit tests and doctests: small models on small arrays, well under a minute.
unit: $(STAMP)
	$(PY) -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site -m "not integration" -n $(NBVAL_WORKERS)

# The tests that run kernels, chapters or subprocesses, or read the installed
# dataset: they belong with the chapter runs.
integration: $(STAMP)
	$(PY) -m pytest tests -q -p no:cacheprovider --ignore=tests/site -m integration -n $(NBVAL_WORKERS)

# Every cell of every chapter runs; claim-check cells fail the run if a claim
# stops holding. Two notebooks run at a time (a chapter's small models keep
# about one core busy); --dist loadfile keeps each notebook's cells in one
# worker, in order.
notebooks: $(STAMP)
	DLGEN_QUICK=1 $(PY) -m pytest --nbval-lax $(NOTEBOOKS) -q -p no:cacheprovider \
		-o addopts="" -o testpaths=notebooks -n $(NBVAL_WORKERS) --dist loadfile

# Executes the chapters again (their experiments come from dlgen's results
# cache, filled by the nbval run) and fails on any Sphinx warning.
book-quick: $(STAMP) _build/.dlgen-stamp
	DLGEN_QUICK=1 $(JB) build . --path-output _build/quick $(BOOK_FLAGS)

# The quick build as a reader sees it: every internal link resolves, and headless
# Chromium renders the home page and a chapter (screenshots in _build/screenshots/).
# Without Chromium the browser checks are skipped with a message.
site-check: $(STAMP)
	BOOK_HTML=_build/quick/_build/html $(PY) -m pytest tests/site -q -p no:cacheprovider -rs -s

# Every Keras backend. JAX and PyTorch get environments of their own
# (.venv-jax, .venv-torch: the "jax" and "torch" extras, CPU builds); dlgen's
# unit tests and doctests run under each, then BACKEND_CHAPTERS execute in quick
# mode under JAX with their claim checks. BACKENDS=jax limits the matrix.
BACKENDS ?= tensorflow jax torch
BACKEND_CHAPTERS ?= notebooks/04_optimizers.ipynb notebooks/06_dropout.ipynb \
	notebooks/11_overfitting.ipynb notebooks/16_data_parallel.ipynb

.venv-%/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -e ".[$*,book,test]"
	touch $@

backends: $(STAMP) $(foreach b,$(filter-out tensorflow,$(BACKENDS)),.venv-$(b)/.installed)
	@for b in $(BACKENDS); do \
		py=$(PY); [ $$b = tensorflow ] || py=.venv-$$b/bin/python; \
		echo "== dlgen's unit tests and doctests, KERAS_BACKEND=$$b"; \
		KERAS_BACKEND=$$b $$py -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site || exit 1; \
	done
ifneq (,$(filter jax,$(BACKENDS)))
	@echo "== chapters in quick mode, KERAS_BACKEND=jax"
	KERAS_BACKEND=jax DLGEN_QUICK=1 DLGEN_CACHE=$(CURDIR)/_build/.dlgen-cache-jax .venv-jax/bin/python -m pytest \
		--nbval-lax $(BACKEND_CHAPTERS) -q -p no:cacheprovider -o addopts="" -o testpaths=notebooks
endif

# The oldest versions pyproject.toml admits: every floor pinned to its release
# series (.ci/floor_constraints.py: tensorflow-cpu>=2.16 -> 2.16.*), installed in
# .venv-floor; dlgen's unit tests, then FLOOR_CHAPTERS in quick mode.
FLOOR_CHAPTERS ?= notebooks/02_backprop.ipynb notebooks/06_dropout.ipynb

.venv-floor/.installed: pyproject.toml .ci/floor_constraints.py $(STAMP)
	$(PYTHON) -m venv .venv-floor
	.venv-floor/bin/python -m pip install --quiet --upgrade pip
	$(PY) .ci/floor_constraints.py cpu > .venv-floor/constraints.txt
	.venv-floor/bin/python -m pip install --quiet -c .venv-floor/constraints.txt -e ".[cpu,book,test]"
	touch $@

floor: .venv-floor/.installed
	@.venv-floor/bin/python -c "import importlib.metadata as m; print('floor versions:', ', '.join(f'{p} {m.version(p)}' for p in ['tensorflow-cpu', 'keras', 'numpy', 'pandas', 'matplotlib', 'scikit-learn']))"
	.venv-floor/bin/python -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site
	DLGEN_QUICK=1 DLGEN_CACHE=$(CURDIR)/_build/.dlgen-cache-floor .venv-floor/bin/python -m pytest \
		--nbval-lax $(FLOOR_CHAPTERS) -q -p no:cacheprovider -o addopts="" -o testpaths=notebooks

bench: $(STAMP)
	$(PY) -m dlgen.bench --overhead $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf _build

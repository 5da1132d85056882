# The book's two commands are `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going
# The chapters, and the run notebooks they sweep (which ship inside dlgen).
NOTEBOOKS := $(filter-out notebooks/_%,$(wildcard notebooks/*.ipynb)) $(wildcard dlgen/run_notebooks/*.ipynb)
# Chapters executed at a time by nbval (make test, make book).
NBVAL_WORKERS ?= 2

PHONY_CLAIMS := claims-page
.PHONY: $(PHONY_CLAIMS) help venv book test unit integration profile notebooks book-quick site-check bench lab strip clean backends floor

help:
	@echo "make book    execute every chapter (full budget) and build the HTML book into _build/html/"
	@echo "make test    unit tests, every chapter in quick mode under nbval, quick book build with -W,"
	@echo "             then the built site checked: links, and pages rendered in headless Chromium"
	@echo "make book KERAS_BACKEND=jax  the same book, built under JAX into _build/jax/_build/html/"
	@echo "make bench   dlgen.fit against plain model.fit on the typical run, then time and peak memory"
	@echo "             of each chapter, quick and full, TensorFlow and JAX, from a cold cache"
	@echo "make profile where a few chapters' time goes (model construction, tracing, training, validation...)"
	@echo "make backends  unit tests under every Keras backend (TensorFlow, JAX, PyTorch), chapters under JAX"
	@echo "make floor   unit tests and two chapters with the oldest TensorFlow and Keras that pyproject.toml admits"
	@echo "make claims-page  regenerate book/claims.md from the chapters' claims cells"
	@echo "make lab     open the chapters in JupyterLab"
	@echo "make strip   remove outputs from the notebooks before committing"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cpu,book,test]"
	touch $(STAMP)

venv: $(STAMP)

# The Keras backend the book is built under. TensorFlow by default;
# `make book KERAS_BACKEND=jax` builds the same book under JAX, in its own
# environment (.venv-jax) and into _build/jax/_build/html, apart from
# TensorFlow's (jupyter-cache keys on code only, not on the backend).
KERAS_BACKEND ?= tensorflow
ifeq ($(strip $(KERAS_BACKEND)),)
override KERAS_BACKEND := tensorflow
endif
export KERAS_BACKEND
ifeq ($(KERAS_BACKEND),tensorflow)
BOOK_VENV := $(VENV)
BOOK_OUT := .
else
BOOK_VENV := .venv-$(KERAS_BACKEND)
BOOK_OUT := _build/$(KERAS_BACKEND)
endif

# Full budget. The execution cache lives in _build/.jupyter_cache, apart from
# the quick build's, so quick outputs never reach the published book.
# The build executes chapters one after the other, and a chapter's small
# models keep about one core busy; so the chapters the cache lacks first run
# two at a time under nbval (their claim checks hold in the full budget too),
# which fills dlgen's results cache, and the build's own execution then takes
# their experiments from it. After a prose-only edit nothing runs twice.
book: $(BOOK_VENV)/.installed _build/.dlgen-stamp
	@stale="$$($(BOOK_VENV)/bin/python .ci/stale_notebooks.py $(BOOK_OUT)/_build/.jupyter_cache $(NOTEBOOKS))"; \
	if [ -n "$$stale" ]; then \
		echo "== executing under $(KERAS_BACKEND), $(NBVAL_WORKERS) at a time: $$stale"; \
		DLGEN_QUICK=0 $(BOOK_VENV)/bin/python -m pytest --nbval-lax $$stale -q -p no:cacheprovider \
			-o addopts="" -o testpaths=notebooks -n $(NBVAL_WORKERS) --dist loadfile || exit 1; \
	fi
	DLGEN_QUICK=0 $(BOOK_VENV)/bin/jupyter-book build . --path-output $(BOOK_OUT) $(BOOK_FLAGS)

# jupyter-cache keys on a notebook's code only: when dlgen changes, the
# executed outputs of both builds are dropped so the chapters run again.
_build/.dlgen-stamp: $(wildcard dlgen/*.py) $(wildcard dlgen/run_notebooks/*.ipynb)
	rm -rf _build/.jupyter_cache _build/quick/_build/.jupyter_cache _build/*/_build/.jupyter_cache
	mkdir -p _build && touch $@

test: unit notebooks integration book-quick site-check

# These run in TensorFlow's environments (.venv, .venv-floor), whatever KERAS_BACKEND the
# shell has: make backends runs the other backends, make book KERAS_BACKEND=jax the JAX book.
unit notebooks integration book-quick site-check floor profile: override KERAS_BACKEND := tensorflow

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
BACKEND_CHAPTERS ?= $(NOTEBOOKS)

.venv-%/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -e ".[$*,book,test]"
	touch $@

backends: $(STAMP) $(foreach b,$(filter-out tensorflow,$(BACKENDS)),.venv-$(b)/.installed)
	@for b in $(BACKENDS); do \
		py=$(PY); [ $$b = tensorflow ] || py=.venv-$$b/bin/python; \
		echo "== dlgen's unit tests and doctests, KERAS_BACKEND=$$b"; \
		KERAS_BACKEND=$$b $$py -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site \
			-m "not integration" -n $(NBVAL_WORKERS) || exit 1; \
	done
ifneq (,$(filter jax,$(BACKENDS)))
	@echo "== chapters in quick mode, KERAS_BACKEND=jax"
	KERAS_BACKEND=jax DLGEN_QUICK=1 DLGEN_CACHE=$(CURDIR)/_build/.dlgen-cache-jax .venv-jax/bin/python -m pytest \
		--nbval-lax $(BACKEND_CHAPTERS) -q -p no:cacheprovider -o addopts="" -o testpaths=notebooks \
		-n $(NBVAL_WORKERS) --dist loadfile
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
	.venv-floor/bin/python -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site -m "not integration" -n $(NBVAL_WORKERS)
	DLGEN_QUICK=1 DLGEN_CACHE=$(CURDIR)/_build/.dlgen-cache-floor .venv-floor/bin/python -m pytest \
		--nbval-lax $(FLOOR_CHAPTERS) -q -p no:cacheprovider -o addopts="" -o testpaths=notebooks

# The overhead ratio on the typical run, then every chapter cold, quick and
# full, under TensorFlow and JAX, with the ratio JAX / TensorFlow per chapter.
bench: $(STAMP) .venv-jax/.installed
	KERAS_BACKEND=jax .venv-jax/bin/python -m dlgen.bench --overhead
	KERAS_BACKEND=tensorflow $(PY) -m dlgen.bench --overhead --backends tensorflow,jax \
		--python jax=.venv-jax/bin/python $(NOTEBOOKS)

# Where the time of a few representative chapters goes (sampled stacks, quick budget).
PROFILE_CHAPTERS ?= notebooks/06_dropout.ipynb notebooks/08_early_stopping.ipynb notebooks/11_overfitting.ipynb
profile: $(STAMP)
	$(PY) -m dlgen.bench --profile --modes quick $(PROFILE_CHAPTERS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb dlgen/run_notebooks/*.ipynb

clean:
	rm -rf _build

# The page Claims and verdicts, generated from the chapters' declarations (a unit
# test fails when the committed page is out of date).
claims-page: $(STAMP)
	$(PY) -c "import sys, dlgen.claims; sys.exit(dlgen.claims._main())" page notebooks/[0-9][0-9]_*.ipynb -o book/claims.md

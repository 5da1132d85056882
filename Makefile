# The book's two commands are `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going
NOTEBOOKS := $(filter-out notebooks/_%,$(wildcard notebooks/*.ipynb))

.PHONY: help venv book test unit notebooks book-quick site-check bench lab strip clean

help:
	@echo "make book    execute every chapter (full budget) and build the HTML book into _build/html/"
	@echo "make test    unit tests, every chapter in quick mode under nbval, quick book build with -W,"
	@echo "             then the built site checked: links, and pages rendered in headless Chromium"
	@echo "make bench   time and measure memory of each chapter, quick and full, from a cold cache"
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
book: $(STAMP) _build/.dlgen-stamp
	DLGEN_QUICK=0 $(JB) build . $(BOOK_FLAGS)

# jupyter-cache keys on a notebook's code only: when dlgen changes, the
# executed outputs of both builds are dropped so the chapters run again.
_build/.dlgen-stamp: $(wildcard dlgen/*.py)
	rm -rf _build/.jupyter_cache _build/quick/_build/.jupyter_cache
	mkdir -p _build && touch $@

test: unit notebooks book-quick site-check

unit: $(STAMP)
	$(PY) -m pytest tests dlgen -q -p no:cacheprovider --ignore=tests/site

# Every cell of every chapter runs; claim-check cells fail the run if a claim
# stops holding. Two notebooks run at a time (a chapter's small models keep
# about one core busy); --dist loadfile keeps each notebook's cells in one
# worker, in order.
NBVAL_WORKERS ?= 2
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

bench: $(STAMP)
	$(PY) -m dlgen.bench $(NOTEBOOKS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf _build

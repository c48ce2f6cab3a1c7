# Every target creates/uses .venv by itself: on a fresh machine `make lab` or `make test` is enough.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test test-fast data bench clean-venv strip-notebooks site

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# MNIST is required; Fashion-MNIST is optional (one line says why it is missing and how to get it).
data: $(STAMP)
	$(PY) -m course_lib data fetch mnist
	$(PY) -m course_lib data fetch fashion_mnist --optional

# JupyterLab on the course; works as root too. Extra flags: make lab LAB_ARGS="--no-browser --port 9999"
lab: data
	$(PY) tools/lab.py $(LAB_ARGS)

# The whole suite: library, notebooks executed in fast mode, widgets driven, browser, torchrun.
test: data
	$(VENV)/bin/ruff check course_lib lessons tools tests benchmarks
	COURSE_FAST=1 $(PY) -m pytest -ra $(PYTEST_ARGS)

# The course website in site/: every notebook executed (full mode; `make site COURSE_FAST=1` for fast mode)
# into build/ (cached copies reused while notebooks and course_lib are unchanged), rendered by mkdocs-jupyter.
# Open it: python -m http.server -d site
COURSE_FAST ?= 0
site: data
	COURSE_FAST=$(COURSE_FAST) $(PY) tools/site/build_site.py

bench: data
	$(PY) benchmarks/run_all.py

# nbstripout drops outputs and execution counts; --keep-id keeps the build's stable cell ids.
strip-notebooks: $(STAMP)
	$(PY) -m nbstripout --keep-id notebooks/*.ipynb quizzes/*.ipynb summaries/*.ipynb

# lessons/*.py -> notebooks/, then summaries/, then the quiz review notebooks (only changed files are written).
.PHONY: notebooks
notebooks: $(STAMP)
	$(PY) -m tools.notebook_build

clean-venv:
	rm -rf $(VENV)

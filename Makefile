# Lakehouse Lab. `make run` builds the course tables; `make test` proves everything works.
# Every target installs what it needs first (idempotent), so a fresh clone needs nothing by hand but Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
LAB := $(VENV)/bin/lakehouse-lab
STAMP := $(VENV)/.installed
# Every numbered notebook runs under nbval, in one pytest session that prints each one's wall time.
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run test unit notebooks lab bench clean doctor

setup: $(STAMP) system-packages .cache/jars/manifest.json .cache/jars/classes.recorded
	@$(LAB) doctor --quiet

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lakehouse-lab)" >/dev/null
	@touch $(STAMP)

system-packages:
	@bash scripts/install-system-packages.sh

.cache/jars/manifest.json: lib/lakehouse_lab/jars.py | $(STAMP)
	$(PY) -c 'from lakehouse_lab import jars; jars.ensure()'

# A class-data-sharing archive of the session's JVM classes: every later Spark start loads them faster.
.cache/jars/classes.recorded: .cache/jars/manifest.json lib/lakehouse_lab/class_archive.py \
		lib/lakehouse_lab/session.py $(wildcard lib/lakehouse_lab/java/*.java)
	$(PY) -c 'from lakehouse_lab import class_archive; class_archive.record()'
	@touch $@

run: setup
	$(LAB) run

unit: setup
	$(PY) -m pytest -q tests

notebooks: setup
	$(PY) scripts/run_notebooks.py $(NOTEBOOKS)

# Notebook exercises raise on anything but a correct answer under LAKEHOUSE_LAB_STRICT (the solutions must pass).
test: setup
	$(PY) -m pytest -q --durations=15 tests && $(PY) scripts/run_notebooks.py $(NOTEBOOKS)

# JupyterLab with the lab cluster running: every kernel's lab.start() attaches to one warm Spark driver.
lab: setup
	$(LAB) cluster start
	$(VENV)/bin/jupyter lab notebooks; $(LAB) cluster stop

bench: setup
	$(PY) benchmarks/run_all.py

doctor: $(STAMP)
	$(LAB) doctor

clean:
	-$(LAB) reset --yes 2>/dev/null
	rm -rf $(VENV) .cache .lab-notebooks .lab-tests .lab-bench build *.egg-info lib/*.egg-info

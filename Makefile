# Two commands for a fresh machine (see README):
#   make run   -> local virtual environment, then the app on an embedded SQLite store with a demo project
#   make test  -> local virtual environment, test services, then the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.otstudio-installed

.PHONY: install run test worker bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes both wheels from the machine's disk.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/streamlit run app.py

test: $(STAMP)
	bash scripts/test-services.sh
	. ./.test-env 2>/dev/null; $(PY) -m pytest -q

worker: $(STAMP)
	$(VENV)/bin/otstudio worker

bench: $(STAMP)
	$(PY) benchmarks/ot_bench.py

# ruff, ruff format and mypy, as configured in .pre-commit-config.yaml
lint: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/pre-commit run --all-files

clean:
	rm -rf $(VENV) .test-env

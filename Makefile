# Two commands for a fresh machine (see README):
#   make run   -> local virtual environment, then the app on an embedded SQLite store with a demo project
#   make test  -> local virtual environment, mypy, test services, then the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.otstudio-installed

.PHONY: install run team test worker bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: pip takes both wheels from the machine's disk.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# serve.py is app.py plus the timeline's video route on the same server (same host and port).
run: $(STAMP)
	$(VENV)/bin/streamlit run serve.py

# Team mode: listens on ADDRESS:PORT and requires login (OIDC provider in .streamlit/secrets.toml).
ADDRESS ?= 0.0.0.0
PORT    ?= 8501
team: $(STAMP)
	OTSTUDIO_TEAM=1 $(VENV)/bin/streamlit run serve.py --server.address=$(ADDRESS) --server.port=$(PORT)

test: $(STAMP)
	$(VENV)/bin/mypy otcore
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

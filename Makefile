# Two commands for a new user: `make run` opens the dashboard, `make test` runs every test.
# Both create .venv from requirements.txt first when it is missing or out of date.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test lint bench worker venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) -m core datasets >/dev/null
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT)

test: lint
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: venv
	$(PY) -m core bench

worker: venv
	$(PY) -m core worker

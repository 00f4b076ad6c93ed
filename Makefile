# Two commands for a new user: `make run` opens the dashboard, `make test` runs every test.
# Both create .venv from requirements.txt first when it is missing or out of date.
# `make run` listens on 127.0.0.1 only. Serving a class on the network is explicit and needs a
# class file with shared = true and sign-in set up (README, "Run it for a class"):
#   make share PLAYGROUND_CLASS=class.toml ADDRESS=0.0.0.0 [PORT=8501] [SECRETS=secrets.toml]
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
ADDRESS ?=
SECRETS ?=

.PHONY: run share test lint bench worker venv

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) -m core datasets >/dev/null
	$(PY) -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT)

share: venv
	$(PY) -m core datasets >/dev/null
	$(PY) -m dashboard.share --address "$(ADDRESS)" --port $(PORT) --secrets "$(SECRETS)"

test: lint
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: venv
	$(PY) -m core bench

worker: venv
	$(PY) -m core worker

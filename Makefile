# 示范点项目管理 — the two commands a newcomer needs: `make run` and `make test`.
# The distribution's Python when it can make a virtualenv: Debian builds it with profile-guided optimisation and
# links it statically, and a worker spends 10-15 % less CPU per request on it than on a default source build
# (pyenv's; docs/performance/NOTES.md, session 8). PYTHON=... chooses another.
PYTHON ?= $(shell /usr/bin/python3 -c 'import ensurepip, venv, sys; print(sys.executable)' 2>/dev/null || echo python3)
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
FLASK = FLASK_APP=wsgi.py $(VENV)/bin/flask

.PHONY: run test install install-dev translations test-deps lint db demo clean bench bench-deps bench-province

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime translations

install-dev: $(VENV)/.dev translations

translations: $(VENV)/.runtime
	PYBABEL=$(VENV)/bin/pybabel bash scripts/i18n.sh compile

db: install
	$(FLASK) db upgrade

demo: db
	$(FLASK) seed demo --if-empty

## Serve on http://$(HOST):$(PORT) with gunicorn, after migrating and (on a new database) loading demo data.
run: demo
	$(VENV)/bin/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --no-control-socket --access-logfile - wsgi:app

## What the tests need from Debian: PostgreSQL 15, chromium and a CJK font (installed only when missing).
test-deps:
	bash scripts/install-test-deps.sh

lint: install-dev
	$(VENV)/bin/ruff check .

## Everything: lint, unit and request tests on SQLite and PostgreSQL, migrations, browser tests.
test: install-dev test-deps lint
	$(VENV)/bin/pytest

## Benchmark (issue 9): city scale on SQLite (2 workers) and PostgreSQL (4 workers) -> docs/PERFORMANCE.md.
bench: install-dev bench-deps
	$(VENV)/bin/python -m bench.run --database sqlite --workers 2
	$(VENV)/bin/python -m bench.run --database postgresql --workers 4
	$(VENV)/bin/python -m bench.report

## The same at province scale (50 times the data; generating it takes most of an hour).
bench-province: install-dev bench-deps
	$(VENV)/bin/python -m bench.run --database sqlite --workers 2 --scale province
	$(VENV)/bin/python -m bench.run --database postgresql --workers 4 --scale province
	$(VENV)/bin/python -m bench.report

bench-deps:
	bash scripts/install-test-deps.sh --bench

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

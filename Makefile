# `make run` and `make test` do all the set-up on a fresh machine.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST  ?= 127.0.0.1
PORT  ?= 8000

.PHONY: install run serve serve-prod test test-fast lint typecheck bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	$(PY) manage.py simulate --if-empty --workflows 40
	$(MAKE) serve

serve: install
	OUTBOX_EMBEDDED_WORKER=1 $(VENV)/bin/uvicorn config.asgi:application --host $(HOST) --port $(PORT) \
		--ws-per-message-deflate false --timeout-graceful-shutdown 10

# Production: WEB_CONCURRENCY uvicorn processes (default: one per core) and one worker process
# (outbox, emails, digests), supervised by config/serve.py; reads DATABASE_URL and REDIS_URL.
# Refuses several processes without REDIS_URL, and unapplied migrations. No `install`: a
# deployment installs (and migrates) as a step of its own (docs/deployment.md).
serve-prod:
	HOST=$(HOST) PORT=$(PORT) $(PY) -m config.serve

# Everything, browsers included, on every core (pytest-xdist; each worker has its own test
# database and servers). HYPOTHESIS_PROFILE=ci (or CI=1) for the full property runs.
test: install
	$(VENV)/bin/pytest -n auto

# The edit loop: no real-browser tests (Playwright + Chromium), no slow ones (the load test's
# smoke run), Hypothesis' small dev profile.
test-fast: install
	$(VENV)/bin/pytest -m "not browser and not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

bench: install
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles

screenshots: install
	$(PY) docs/screenshots.py

# Two entry points: `make test` and `make serve`. Everything else is a dependency of those.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: test serve lint check-types check-imports pytest chromium postgresql bench bench-serve bench-soak bench-scale bench-heavy goldens clean

# The venv is rebuilt whenever the pinned dependencies change.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The independent R4 validator (npm `fhir`) and axe-core for the browser tests, pinned in
# validators/package-lock.json.
validators/node_modules/.installed: validators/package.json validators/package-lock.json
	npm ci --prefix validators --no-audit --no-fund --loglevel=error
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-types: $(BIN)/.installed
	$(BIN)/mypy

check-imports: $(BIN)/.installed
	$(BIN)/lint-imports

# Debian's chromium and chromium-driver for the real-browser tests (tests/browser), installed
# through apt when missing. Playwright drives /usr/bin/chromium; it never downloads a browser.
chromium:
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

# Debian's PostgreSQL server, for the tests that run the store on its second backend. The
# tests start (and stop) a throwaway cluster of their own on loopback, so the package's
# default cluster is not created.
postgresql:
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ( \
	  mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/ped.conf && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

pytest: $(BIN)/.installed validators/node_modules/.installed chromium postgresql
	$(BIN)/pytest

test: lint check-types check-imports pytest

# Load the fixtures into the embedded store (instance/ped.sqlite3; nothing is loaded twice),
# then serve the API with gunicorn at http://127.0.0.1:$(PORT)/fhir.
serve: $(BIN)/.installed
	$(BIN)/flask --app wsgi load fixtures/
	PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

# Regenerate fixtures/content and fixtures/fhir from fixtures/pages. On purpose only:
# review the diff before committing it.
goldens: $(BIN)/.installed
	$(BIN)/python -m tests.regenerate_goldens

bench: $(BIN)/.installed
	$(BIN)/python -m bench.map_page
	$(BIN)/python -m bench.corpus

# Needs wrk (Debian package wrk); installed here if missing.
bench-serve: $(BIN)/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.serve

# Two gunicorn nodes on one throwaway PostgreSQL database under wrk, 64 connections for 60 s
# (bench/soak.py). Needs wrk and Debian's postgresql.
bench-soak: $(BIN)/.installed postgresql
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.soak

# 5,000 PlanDefinitions and 50,000 Medications of synthetic content (bench/synthetic.py) on
# SQLite and on a throwaway PostgreSQL: search medians against the small store, load rate,
# worker memory (bench/scale.py).
bench-scale: $(BIN)/.installed postgresql
	$(BIN)/python -m bench.scale --backend both

# 60 s of heavy requests ($validate of 1.9 MB, _include:iterate, R5 XML, reading view) from
# 24 threads against one gunicorn as `make serve` starts it, with a /healthz probe every
# second: probe latency, statuses, worker RSS (bench/heavy.py).
bench-heavy: $(BIN)/.installed
	$(BIN)/python -m bench.heavy --seconds 60

clean:
	rm -rf $(VENV) validators/node_modules .pytest_cache .mypy_cache .ruff_cache test-artifacts

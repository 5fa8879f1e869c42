# Footfall: `make serve` runs the server on SQLite, `make test` runs the whole suite (SQLite and PostgreSQL).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve
NODE_SDK := tests/sdk/node

.PHONY: install browser haproxy serve cluster test bench crashtest clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(NODE_SDK)/node_modules/.installed: $(NODE_SDK)/package.json $(NODE_SDK)/package-lock.json
	cd $(NODE_SDK) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's chromium (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# The cluster tests and `make cluster` put Debian's HAProxy in front of the hosts.
haproxy:
	@command -v haproxy >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null)

# Serving needs only the runtime dependencies (the test tools stay in the `test` extra).
$(SERVE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/footfall serve

# Three hosts, each in its own network namespace, behind HAProxy, on a private PostgreSQL and Redis
# (bench/cluster_harness.py; needs root). Prints the balancer's URL and an account's keys; Ctrl-C stops it.
cluster: $(STAMP) haproxy
	$(BIN)/python -m bench.cluster_harness

# The suite in two parts: most of it on $(TEST_WORKERS) processes (pytest-xdist, one file per process at a
# time), then the timing-bound drills (marked `serial`: kill -9, stalls, rate windows, live re-checks)
# alone, so that their bounds are measured on an idle machine. Both parts run; either failing fails.
TEST_WORKERS ?= 2

test: $(STAMP) $(NODE_SDK)/node_modules/.installed browser haproxy
	@status=0; \
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial" || status=1; \
	$(BIN)/pytest -q -m serial || status=1; \
	exit $$status

bench: $(STAMP) haproxy
	$(BIN)/python -m bench

# Long fault drills: 20 x kill -9 per backend, PostgreSQL stopped and stalled (private cluster); then the
# data-moving drills: `footfall import` of 1,000,000 events killed -9 and resumed, on each backend, its rate
# against the bulk API, and `db copy` of 1,000,000 events into PostgreSQL with byte-identical exports. Last, the cluster drill: each of
# three hosts behind HAProxy killed -9 under load and restarted, then PostgreSQL stopped 5 s (bench/cluster_drill.py).
crashtest: $(STAMP) haproxy
	$(BIN)/python -m bench crashtest
	$(BIN)/python -m bench moving --backend both
	$(BIN)/python -m bench.cluster_drill

clean:
	rm -rf $(VENV) $(NODE_SDK)/node_modules .pytest_cache

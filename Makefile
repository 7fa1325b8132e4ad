# Airflow + Ray platform. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION     := 0.13.8
PYTHON_VERSION := 3.11
TOOLS_DIR      := $(CURDIR)/.tools
VENV           := $(CURDIR)/.venv
UV             := $(shell command -v uv 2>/dev/null || echo $(TOOLS_DIR)/bin/uv)
HELM_VERSION   := v3.22.0
GO             := $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
CLUSTER        ?= kind
IMAGES         ?= upstream
PYTEST_ARGS    ?=
# Where docker/local/go-binaries.sh builds to (as docker/local/versions.sh says); the MinIO
# server of the tests, the demo and the benchmarks is $(PLATFORM_CACHE)/bin/minio.
PLATFORM_CACHE := $(or $(RAY_PLATFORM_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ray-platform)

# Python comes from this machine, never downloaded by uv (only package registries are reachable).
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup test test-unit lint bench bench-gpu demo demo-stop clean tools tools-helm tools-minio tools-gateway up down e2e docker-engine images-local

help: ## List the targets with one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(TOOLS_DIR)/bin/uv:
	@command -v python$(PYTHON_VERSION) >/dev/null || { echo "Python $(PYTHON_VERSION) is required: install it (e.g. apt-get install python$(PYTHON_VERSION) or pyenv install $(PYTHON_VERSION)) and rerun make." >&2; exit 1; }
	@echo "==> uv not found: installing uv $(UV_VERSION) into $(TOOLS_DIR)"
	python$(PYTHON_VERSION) -m venv $(TOOLS_DIR)
	$(TOOLS_DIR)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml provider/pyproject.toml | $(if $(findstring $(TOOLS_DIR),$(UV)),$(TOOLS_DIR)/bin/uv)
	@echo "==> installing the locked environment into $(VENV)"
	$(UV) sync --frozen --python python$(PYTHON_VERSION)
	@touch $@

setup: $(VENV)/.synced ## Install uv if missing, then every dependency from uv.lock into .venv

test: setup tools ## Run the whole test suite (starts its own Ray head, MinIO and Airflow)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-unit: setup ## Run only the fast tests that start no servers
	$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

lint: setup ## Check style with ruff; check that runtime/ never imports Airflow (import-linter)
	$(VENV)/bin/ruff check provider devstack dags tests bench
	$(VENV)/bin/ruff format --check provider devstack dags tests bench
	$(VENV)/bin/lint-imports

bench: setup tools ## Run the benchmarks; results (JSON, markdown, PNG) go to bench/results/
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

bench-gpu: setup ## On a machine with an NVIDIA GPU: xgboost on CUDA vs CPU, and through Ray
	$(VENV)/bin/python -m bench gpu $(BENCH_ARGS)

demo: setup tools ## Run the HIGGS pipeline end to end here (ROWS=, SOURCE=, ROUNDS=, ACTORS=, USE_GPU=1)
	ROWS="$(ROWS)" SOURCE="$(SOURCE)" ROUNDS="$(ROUNDS)" ACTORS="$(ACTORS)" USE_GPU="$(USE_GPU)" \
		$(VENV)/bin/python -m devstack.demo run

demo-stop: ## Stop the Ray head, MinIO and Airflow that make demo started
	$(VENV)/bin/python -m devstack.demo stop

clean: ## Remove the virtual environment and local tools
	rm -rf $(VENV) $(TOOLS_DIR)

# ---- Kubernetes: tools, local cluster (charts/, docker/, kind-config.yaml) ----------------

tools: tools-helm tools-minio tools-gateway ## Build what is missing: helm (v3.22.0, into .tools/bin), the MinIO server (needs Go), s3proxy and Azurite (need Java, Node.js)

tools-helm:
	@if [ -x "$(TOOLS_DIR)/bin/helm" ] || command -v helm >/dev/null 2>&1; then exit 0; fi; \
	if [ ! -x "$(GO)" ]; then echo "helm is missing and Go is not installed: install Go (https://go.dev/dl/) or helm (https://helm.sh/docs/intro/install/) and rerun make." >&2; exit 1; fi; \
	echo "==> helm not found: building helm $(HELM_VERSION) into $(TOOLS_DIR)/bin (go install, a few minutes)"; \
	GOBIN=$(TOOLS_DIR)/bin GOFLAGS=-buildvcs=false $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
# MinIO, the S3 server of the tests, the demo and the benchmarks (devstack/s3_server.py looks
# for $MINIO_BINARY, then $(PLATFORM_CACHE)/bin/minio, then minio on PATH), built by the same
# script as the local cluster's binaries.
tools-minio:
	@if [ -n "$$MINIO_BINARY" ]; then \
	  [ -x "$$MINIO_BINARY" ] && exit 0; \
	  echo "MINIO_BINARY=$$MINIO_BINARY is not an executable: point it at a minio binary, or unset it to build one with make tools." >&2; exit 1; \
	fi; \
	if [ -x "$(PLATFORM_CACHE)/bin/minio" ] || command -v minio >/dev/null 2>&1; then exit 0; fi; \
	echo "==> MinIO server not found: building it into $(PLATFORM_CACHE)/bin with docker/local/go-binaries.sh minio (about 6 minutes on 2 cores the first time, cached after)"; \
	RAY_PLATFORM_CACHE="$(PLATFORM_CACHE)" bash docker/local/go-binaries.sh minio

# s3proxy (the chart's Azure Blob gateway) and Azurite, for the gateway's tests
# (devstack/azure_gateway.py); fetched from Maven Central and npm once, cached after.
tools-gateway:
	@RAY_PLATFORM_CACHE="$(PLATFORM_CACHE)" bash docker/local/gateway-tools.sh

up: tools-helm ## Local cluster with Ray, MinIO and Airflow (CLUSTER=kind|minikube, IMAGES=upstream|local)
	@CLUSTER=$(CLUSTER) IMAGES=$(IMAGES) bash charts/scripts/up.sh

e2e: ## On that cluster: HIGGS DAG, Ray head loss, NetworkPolicy (ROWS=, ROUNDS=, E2E_CHECKS=)
	@CLUSTER=$(CLUSTER) IMAGES=$(IMAGES) ROWS="$(ROWS)" ROUNDS="$(ROUNDS)" ACTORS="$(ACTORS)" bash charts/scripts/e2e.sh

down: ## Delete the local cluster that make up created, with everything in it
	@CLUSTER=$(CLUSTER) IMAGES=$(IMAGES) bash charts/scripts/down.sh

docker-engine: ## As root on Debian/Ubuntu: install and start Docker (runc wrapper only where needed)
	@bash charts/scripts/docker-engine.sh

images-local: ## Build every image of make up IMAGES=local here (cached outside the repo)
	@bash docker/local/build.sh

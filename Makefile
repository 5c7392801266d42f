# Dapr-native Management Plane. `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

APPS := $(notdir $(patsubst %/main.go,%,$(wildcard apps/*/main.go)))
BENCHTIME ?= 2000x

# The daprd flavour (scripts/env.sh): lean, the project's own with the components the plane uses, or all, dapr's
# daprd with every component (make install DAPRD_COMPONENTS=all). Each has its own cache folder; the tests
# find the lean one by default and the other through DAPR_RUNTIME_PATH, which env.sh derives.
DAPRD_COMPONENTS ?= lean
export DAPRD_COMPONENTS
ifeq ($(DAPRD_COMPONENTS),all)
export DAPR_RUNTIME_PATH ?= $(shell DAPRD_COMPONENTS=all bash -c 'source scripts/env.sh && echo "$$DAPR_RUNTIME_PATH"')
endif

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-z][a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: install
install: ## Build daprd (DAPRD_COMPONENTS=lean|all), sentry, operator, the dapr CLI, kube-apiserver into .cache/; install redis, postgresql, etcd if missing
	@scripts/install.sh

.PHONY: build
build: ## Build every app into bin/
	go build -o bin/ $(addprefix ./apps/,$(APPS))

.PHONY: images
images: ## Build an OCI image per deployed app into bin/images/, no Docker needed (REGISTRY=host/path names them)
	go run ./scripts/imagetool -out bin/images $(if $(REGISTRY),-registry $(REGISTRY))

.PHONY: generate
generate: ## Regenerate gqlgen code after a schema change
	go generate ./apps/...

.PHONY: run
run: install build ## Run the whole plane locally (redis, sidecars, apps) until Ctrl-C
	@scripts/run.sh

.PHONY: test
# -timeout: on a cold build cache the image test compiles every app with -trimpath, which alone can take longer
# than go test's default of 10 minutes on 2 cores.
test: install ## Run unit and end-to-end tests (real daprd and redis), e2e against sqlite, redis and postgres state
	go vet ./...
	MP_REQUIRE_E2E=1 go test -count=1 -timeout 45m ./...
	cd dapr/tools && go vet ./daprd/... && go test -count=1 ./daprd/nrcache/
	MP_REQUIRE_E2E=1 MP_E2E_REGISTRY=redis go test -count=1 -timeout 30m ./apps/e2e/...
	MP_REQUIRE_E2E=1 MP_E2E_REGISTRY=postgres go test -count=1 -timeout 30m ./apps/e2e/...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

# make test fuzzes for a number of executions, not a duration: a duration-based -fuzztime races Go's fuzzing
# coordinator at the deadline and, on a loaded machine, fails with a bare "context deadline exceeded" and no
# failing input (golang/go#75804). A count has no deadline to race; it only takes longer when the machine is slow.
TEST_FUZZTIME ?= 50000x
FUZZTIME ?= 10m
.PHONY: fuzz
fuzz: ## Fuzz the Connector's CSR and token handling (FUZZTIME per target: a duration or Nx executions)
	go test ./apps/connector/trust -run '^$$' -fuzz '^FuzzSignCSR$$' -fuzztime $(FUZZTIME)
	go test ./apps/connector/trust -run '^$$' -fuzz '^FuzzToken$$' -fuzztime $(FUZZTIME)

.PHONY: test-unit
test-unit: ## Run the tests that need no sidecar
	go test -count=1 -short ./...

.PHONY: bench
bench: install ## Run the benchmarks against a real stack (MP_BENCH_APPS sets the large tenant's size, default 100000)
	MP_REQUIRE_E2E=1 go test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem -timeout 90m ./apps/...

.PHONY: bench-fleet
bench-fleet: install ## Simulate 100, 500, 1000 runtime agents on a real stack: plane CPU, memory, heartbeats, fan-out (MP_FLEET_SIZES=100 for a quick run)
	MP_REQUIRE_E2E=1 go test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 60m ./apps/e2e/

.PHONY: token
token: ## Print a development token: make token TENANT=<id> [SCOPES="application:read ..."]
	@test -n "$(TENANT)" || { echo "usage: make token TENANT=<id> [SCOPES=...]" >&2; exit 2; }
	@go run ./apps/gateway token -data "$(CURDIR)/.data" -tenant "$(TENANT)" $(if $(SCOPES),-scopes "$(SCOPES)")

.PHONY: clean
clean: ## Remove built binaries (keeps the Dapr build cache and local data)
	rm -rf bin/

.PHONY: reset
reset: ## Delete local data: registry, redis, postgres, logs
	@scripts/redis.sh stop
	@scripts/postgres.sh stop
	rm -rf .data/ apps/*/.dapr/logs

.PHONY: log-sink
log-sink: ## Run a stand-in logging service that prints what it receives: make log-sink PORT=8081
	go run ./apps/log-sink -addr :$(or $(PORT),8081)

# karpctl — see README.md. Karpenter v1.15.0 needs Go >= 1.26.9; the go command fetches this toolchain.
export GOTOOLCHAIN := go1.27.3
export KUBECACHEDIR ?= $(CURDIR)/.bin/kubecache
# Every build, test, vet and the release compile karpctl's dependencies one way (static, -trimpath,
# as the release ships), so each package compiles once per cache, not once per command.
export CGO_ENABLED := 0
export GOFLAGS += -trimpath

GO      ?= go
PREFIX  ?= $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) $(GO) env GOPATH)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
# The commit's time in UTC, as GoReleaser's .CommitDate: one commit, one binary.
DATE    ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
CLI     := github.com/karpctl/karpctl/internal/cli
LDFLAGS := -s -w -X $(CLI).Version=$(VERSION) -X $(CLI).Commit=$(COMMIT) -X $(CLI).Date=$(DATE)
BIN     := bin/kubectl-karpctl
# `make cross` builds these (GOOS/GOARCH) into bin/GOOS_GOARCH/; .ci/run builds the two furthest
# from linux/amd64, `make release-snapshot` all five of .goreleaser.yaml.
CROSS_PLATFORMS ?= darwin/arm64 windows/amd64

# The harness and sandbox start Kubernetes' control plane with Linux process controls (process groups,
# parent-death signals, namespaces). On macOS and Windows the targets that need them stop with this
# line instead of a compile error.
LINUX_ONLY = @[ "$$(uname -s)" = Linux ] || { echo "make $@ needs Linux: the test harness and sandbox are Linux-only development tools (make build, install, cross and release-snapshot work everywhere)" >&2; exit 2; }

.PHONY: build install test unit e2e demo bench fuzz reliability crash-fast harness bump-karpenter sandbox-up sandbox-down vet fmt generate clean cross release-snapshot release-tools

# Static and -trimpath (above) as in the release, so that `make build` makes the binary the archives ship.
build: ## Build bin/kubectl-karpctl
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/karpctl

cross: ## Cross-build kubectl-karpctl for CROSS_PLATFORMS into bin/GOOS_GOARCH/ and show each file's format
	@set -e; for p in $(CROSS_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" != windows ] || ext=.exe; out=bin/$${os}_$${arch}/kubectl-karpctl$$ext; \
	  t0=$$(date +%s); CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/karpctl; \
	  echo "$$out: $$(wc -c <$$out | tr -d " ") bytes in $$(( $$(date +%s) - t0 ))s: $$(file -b $$out)"; \
	done

release-tools: ## Install goreleaser, krew and validate-krew-manifest (pinned, Go module proxy) into .bin/tools
	bash hack/release/tools.sh

release-snapshot: ## Five release archives + checksums.txt in dist/ and the krew manifest plugins/karpctl.yaml, published nowhere
	bash hack/release/snapshot.sh

install: build ## Install kubectl-karpctl into PREFIX (default: $(go env GOPATH)/bin), so `kubectl karpctl` works
	install -d $(PREFIX)
	install -m 0755 $(BIN) $(PREFIX)/kubectl-karpctl

harness: ## Build the control-plane binaries (kube-apiserver, etcd, controller-manager, scheduler, kwok, karpenter-kwok) into .bin
	$(LINUX_ONLY)
	bash hack/kube/build.sh

vet:
	$(GO) vet ./...

test: harness build ## Unit and end-to-end tests (e2e against a real kube-apiserver)
	$(LINUX_ONLY)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

unit: ## Unit tests only (e2e tests skip without the harness binaries)
	$(LINUX_ONLY)
	KARPCTL_BIN=/nonexistent $(GO) test -count=1 ./...

bench: harness ## Performance benchmarks (engine overhead, snapshot build, live load, top under load, fleets of 20 contexts, lease exporter under scrapers, start-up vs kubectl)
	$(LINUX_ONLY)
	$(GO) test -run '^$$' -bench . -benchtime 1x -benchmem ./internal/... ./test/e2e/plan ./test/e2e/plansoak ./test/e2e/top ./test/e2e/fleet ./test/e2e/alerts ./test/e2e/release | tee bench.out

# The crash-point hook (internal/drill/crashpoint.go) exists only in binaries built with -tags crashpoints.
crash-fast: harness ## Drill crash points, fast subset: both drills stopped after their lock and after their action, by SIGKILL, SIGTERM and SIGINT
	$(LINUX_ONLY)
	$(GO) test -count=1 -tags crashpoints -timeout 30m -run TestDrillCrashMatrix ./test/e2e/drill

reliability: harness ## Full crash-point matrix (drills and the probe), the probe on every NodePool state, every command through every API fault, the exporter under scrapers; rewrites docs/reliability.md
	$(LINUX_ONLY)
	UPDATE_RELIABILITY=1 CRASH_MATRIX=full $(GO) test -count=1 -tags crashpoints -timeout 90m -run 'TestDrillCrashMatrix|TestDrillsThroughFaults' ./test/e2e/drill
	UPDATE_RELIABILITY=1 CRASH_MATRIX=full $(GO) test -count=1 -tags crashpoints -timeout 90m -run TestProbeCrashMatrix ./test/e2e/drill/realkarpenter
	PROBE_MATRIX=full $(GO) test -count=1 -timeout 60m -run 'TestRealKarpenterProbe(Busy|Empty|No)Nodes' ./test/e2e/drill/realkarpenter
	UPDATE_RELIABILITY=1 $(GO) test -count=1 -timeout 30m -run TestEveryCommandThroughEveryFault ./test/e2e/faults
	UPDATE_RELIABILITY=1 $(GO) test -count=1 -run '^$$' -bench LeaseExporterScrapes -benchtime 1x ./test/e2e/alerts

# FUZZTIME per target (go test's -fuzztime: 30s, 10m, 5000x); FUZZPARALLEL workers each (default: all CPUs).
FUZZTIME ?= 30s
# FUZZQUICK=1 leaves out the targets that link Karpenter's scheduler (hack/fuzz.sh says why).
FUZZQUICK ?= 0
fuzz: ## Run every fuzz target for FUZZTIME, one after another, and print executions per target
	FUZZTIME=$(FUZZTIME) FUZZQUICK=$(FUZZQUICK) bash hack/fuzz.sh

demo: harness build ## Start the sandbox with the real Karpenter and show every command
	$(LINUX_ONLY)
	bash hack/demo.sh

sandbox-up: harness ## Start the sandbox (real control plane + real Karpenter, 2 replicas) in the background
	$(LINUX_ONLY)
	$(GO) run ./hack/sandbox up

sandbox-down: ## Stop exactly the processes sandbox-up started
	$(LINUX_ONLY)
	$(GO) run ./hack/sandbox down

# The EC2 data (internal/engine/catalog/aws) needs Karpenter's instance-types reference at
# ../shared/data/karpenter-instance-types-v1.14.md beside the repository or at
# $KARPCTL_INSTANCE_TYPES_REFERENCE; it is rewritten, with a new date, only when an input changed.
bump-karpenter: ## Move to Karpenter's AWS release VERSION (e.g. make bump-karpenter VERSION=v1.15.2) and prove it against the real Karpenter
	$(LINUX_ONLY)
	bash hack/bump-karpenter.sh $(VERSION)

generate: ## Regenerate generated code and the EC2 data (see docs/aws.md "Regenerating")
	$(GO) generate ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin bench.out dist plugins

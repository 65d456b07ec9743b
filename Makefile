# karpctl — see README.md. Karpenter v1.15.0 needs Go >= 1.26.9; the go command fetches this toolchain.
export GOTOOLCHAIN := go1.27.3
export KUBECACHEDIR ?= $(CURDIR)/.bin/kubecache

GO      ?= go
PREFIX  ?= $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) $(GO) env GOPATH)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/karpctl/karpctl/internal/cli.Version=$(VERSION)
BIN     := bin/kubectl-karpctl

.PHONY: build install test unit e2e demo bench harness sandbox-up sandbox-down vet fmt generate clean

build: ## Build bin/kubectl-karpctl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/karpctl

install: build ## Install kubectl-karpctl into PREFIX (default: $(go env GOPATH)/bin), so `kubectl karpctl` works
	install -d $(PREFIX)
	install -m 0755 $(BIN) $(PREFIX)/kubectl-karpctl

harness: ## Build the control-plane binaries (kube-apiserver, etcd, controller-manager, scheduler, kwok, karpenter-kwok) into .bin
	bash hack/kube/build.sh

vet:
	$(GO) vet ./...

test: harness build ## Unit and end-to-end tests (e2e against a real kube-apiserver)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

unit: ## Unit tests only (e2e tests skip without the harness binaries)
	KARPCTL_BIN=/nonexistent $(GO) test -count=1 ./...

bench: harness ## Performance benchmarks (engine overhead, snapshot build, live load, fleets of 20 contexts)
	$(GO) test -run '^$$' -bench . -benchtime 1x -benchmem ./internal/... ./test/e2e/plan ./test/e2e/plansoak ./test/e2e/fleet | tee bench.out

demo: harness build ## Start the sandbox with the real Karpenter and show every command
	bash hack/demo.sh

sandbox-up: harness ## Start the sandbox (real control plane + real Karpenter, 2 replicas) in the background
	$(GO) run ./hack/sandbox up

sandbox-down: ## Stop exactly the processes sandbox-up started
	$(GO) run ./hack/sandbox down

generate:
	$(GO) generate ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin bench.out

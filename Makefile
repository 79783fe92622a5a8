GO ?= go
SHELL := bash

# Stamped into the binary; "exporter version" prints them.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: all build demo test vet fmt-check lint bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/exporter ./cmd/exporter

# The whole flow on the embedded default: simulator, full sync, changes,
# incremental sync, diff, review packet and verify (see "exporter demo --help").
# It builds bin/exporter exactly as 'make build' does (the same flags, so
# neither rebuilds for the other) and runs it: the commands the demo
# suggests then work at once with bin/exporter.
demo:
	@echo "make demo: building bin/exporter; a first build compiles every dependency (SQLite, the Azure SDK, Parquet, ...) and takes a few minutes, later ones take seconds"
	@$(MAKE) --no-print-directory build
	bin/exporter demo

# The whole suite under the race detector, then the incremental-sync
# property tests whole without it (under it they run a sample: every sync
# costs ten times as much there, and the race detector checks the same
# concurrency on any seed). checkptr is off: it only re-checks the pointer
# arithmetic of the transpiled SQLite and triples its cost. -timeout makes a
# hang fail with a stack; 15m leaves room for cmd/exporter, the longest
# package (about 7.5 minutes under the race detector on 2 busy cores).
# The last lines say if Azure Blob tests were skipped for want of Azurite,
# the warehouse reader tests for want of DuckDB, and the browser tests of
# report.html for want of Chromium.
TEST_TIMEOUT ?= 15m
test: vet fmt-check
	$(GO) test -race -gcflags=all=-d=checkptr=0 -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '^TestIncremental(EqualsFreshFullSync|ByChangeKind)$$' ./internal/collect/
	@scripts/azurite.sh status
	@scripts/duckdb.sh status
	@scripts/chromium.sh status

vet:
	$(GO) vet ./...

# Fails, listing the files, if any Go file is not gofmt-formatted.
fmt-check:
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

lint: vet fmt-check

# One iteration of every benchmark. Each prints "bench: <name> <value> <unit>"
# lines (see the README's performance section); only those, and failures, are shown.
bench:
	@$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./... 2>&1 | grep -E '^(bench:|ok|FAIL|--- FAIL|panic:)|_test.go:[0-9]+:'; exit $${PIPESTATUS[0]}

clean:
	rm -rf bin/ demo-out/

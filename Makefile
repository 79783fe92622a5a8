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
demo:
	$(GO) run ./cmd/exporter demo

test: vet fmt-check
	$(GO) test -race -count=1 ./...

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

# Gantry: the two commands of the quick start are `make run` and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test build vet fmt bench

# Run a single-node cluster with data in ./data.
run:
	$(GO) run ./cmd/gantry server

# Every test tier: unit, in-process cluster and end-to-end (built binary,
# real kubectl). Fuzz seed corpora run as unit tests.
test:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal test)" || { echo "gofmt needed:"; gofmt -l cmd internal test; exit 1; }
	$(GO) test -count=1 -timeout 45m ./...

build:
	$(GO) build -o bin/gantry ./cmd/gantry

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./test/bench/

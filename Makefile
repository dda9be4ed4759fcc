# Gantry: the two commands of the quick start are `make run` and `make test`.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin
# A static, pure-Go binary: nothing needs cgo (os/user and the DNS resolver
# have Go implementations; only kustomize's loader of Go plugins (.so
# files), which imports package plugin, then reports them unsupported).
# Linked with cgo and plugin the binary exports ~300k dynamic symbols, and
# is 35 MB larger; its mapped pages count in the server's resident set.
CGO_ENABLED ?= 0
export CGO_ENABLED

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

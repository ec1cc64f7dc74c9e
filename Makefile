# xnode — build, run and test. `make run` and `make test` are all a fresh
# machine with Go needs; modules come from the Go module proxy.

GO       ?= go
BIN      := bin/xnode
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
# Extra flags for `make run`, e.g. make run ARGS="--api-listen 127.0.0.1:9090".
ARGS     ?=

.PHONY: build run test race bench lint fuzz localnet localnet-down e2e interop clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/xnode

## run: a node on its embedded default (a single-node dev network in ~/.xnode)
run: build
	./$(BIN) start $(ARGS)

## test: the full unit and integration suite (real badger, libp2p, CometBFT)
test:
	$(GO) test -count=1 -timeout 14m $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## bench: every benchmark BENCHMARKS.md reports, side by side with its baseline; raw output in bench.txt
bench:
	scripts/bench.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeTx -fuzztime 30s ./abci/
	$(GO) test -run '^$$' -fuzz FuzzDecodeNode -fuzztime 30s ./block/

## localnet: a 4-node network on this machine, in .localnet/
localnet: build
	./$(BIN) localnet up -n 4 --dir .localnet

localnet-down: build
	./$(BIN) localnet down --dir .localnet

## e2e: fault tests on real processes (kill -9, SIGSTOP, 7 nodes); under 10 minutes
e2e: build
	XNODE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -v -timeout 12m ./e2e/

## interop: xnode against IPFS tools nobody here wrote: npm ipfs-car unpacks `xnode export`'s CAR,
## @helia/verified-fetch fetches and verifies from the /ipfs/ gateway, root CIDs match js-ipfs's
## importer with Kubo's parameters. Needs Node.js >= 20.18 and npm; installs interop/package-lock.json.
interop: build
	cd interop && npm ci --no-audit --no-fund
	XNODE=$(CURDIR)/$(BIN) interop/run.sh

clean:
	rm -rf bin .localnet

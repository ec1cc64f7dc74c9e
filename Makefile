# xnode — build, run and test. `make run` and `make test` are all a fresh
# machine with Go needs; modules come from the Go module proxy.

GO       ?= go
BIN      := bin/xnode
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
# Extra flags for `make run`, e.g. make run ARGS="--api-listen 127.0.0.1:9090".
ARGS     ?=

.PHONY: build run test race bench lint fuzz fuzz-list localnet localnet-down e2e interop clean

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

## fuzz: every decoder of bytes from outside, FUZZTIME each (go fuzzes one target per run)
# Each new input is minimized for at most FUZZMINTIME, so that a slow target
# spends its time fuzzing; a failing input is minimized the same way.
FUZZTIME    ?= 30s
FUZZMINTIME ?= 2s
FUZZ_TARGETS := \
	./abci:FuzzDecodeTx \
	./block:FuzzParseCID \
	./block:FuzzCastCID \
	./block:FuzzDecodeNode \
	./overlay/transfer:FuzzDecodeRequest \
	./overlay/transfer:FuzzDecodeResponse \
	./overlay/transfer:FuzzReadFrame \
	./overlay/transfer:FuzzServe \
	./gossip:FuzzDecodeAnnouncement \
	./overlay:FuzzDecodeGenesisInfo \
	./overlay:FuzzGenesisFile \
	./overlay:FuzzReadPeers \
	./overlay:FuzzLoadConfig \
	./overlay:FuzzImportCAR \
	./api:FuzzParseRange \
	./api:FuzzAPIRequest \
	./api:FuzzClientError \
	./keyring:FuzzParse \
	./light:FuzzCheckProof \
	./storage:FuzzWalkSegment

fuzz: fuzz-list
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg) for $(FUZZTIME)"; \
		start=$$(date +%s); \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg/ || failed="$$failed $$name"; \
		echo "== $$name: $$(( $$(date +%s) - start ))s with the build"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; \
	echo "fuzz: all $(words $(FUZZ_TARGETS)) fuzzers clean"

## fuzz-list: fails if a fuzz test in the tree is missing from FUZZ_TARGETS
fuzz-list:
	@missing=""; for n in $$(git ls-files '*_test.go' | xargs grep -hoE '^func Fuzz[A-Za-z0-9_]+' | sed 's/^func //' | sort -u); do \
		case " $(FUZZ_TARGETS) " in *":$$n "*) ;; *) missing="$$missing $$n";; esac; \
	done; \
	if [ -n "$$missing" ]; then echo "fuzz: not in FUZZ_TARGETS:$$missing"; exit 1; fi

## localnet: a 4-node network on this machine, in .localnet/
localnet: build
	./$(BIN) localnet up -n 4 --dir .localnet

localnet-down: build
	./$(BIN) localnet down --dir .localnet

## e2e: fault tests on real processes (kill -9, SIGSTOP, 7 nodes; partitions in network
## namespaces, wipes, flipped bytes, a hostile peer, the checker); under 15 minutes
e2e: build
	XNODE_BIN=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -v -timeout 20m ./e2e/

## interop: xnode against IPFS tools nobody here wrote: npm ipfs-car unpacks `xnode export`'s CAR,
## @helia/verified-fetch fetches and verifies from the /ipfs/ gateway, root CIDs match js-ipfs's
## importer and Kubo's `ipfs add`, and CARs go both ways through Kubo's `ipfs dag import|export`.
## Needs Node.js >= 20.18 and npm; installs interop/package-lock.json and builds Kubo from its
## module source (interop/kubo.sh, cached in interop/.kubo).
interop: build
	cd interop && npm ci --no-audit --no-fund
	GO=$(GO) interop/kubo.sh >/dev/null
	XNODE=$(CURDIR)/$(BIN) IPFS=$(CURDIR)/interop/.kubo/ipfs interop/run.sh

clean:
	rm -rf bin .localnet

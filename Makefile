# Wharf: see README.md. `make` alone lists the targets.
GO      ?= go
DATA    ?= ./wharf-data
PKGS    := ./...
RACE    := ./engine/... ./index/... ./remoting/... ./nameserver/... ./fuzz/...
BENCH   ?= .
COUNT   ?= 6

.PHONY: help build run test testrace bench fuzz lint lint-imports stress soak clean

help:
	@echo "make run       start wharf standalone (name server 127.0.0.1:9876, broker 127.0.0.1:10911, data in $(DATA))"
	@echo "make test      vet + all tests (invariants on) + race tests of the storage and protocol packages (what CI runs)"
	@echo "make testrace  every package under the race detector"
	@echo "make bench     Go benchmarks, $(COUNT) runs each, into bench-new.txt for benchstat"
	@echo "make fuzz      each fuzz target for FUZZTIME (default 30s)"
	@echo "make lint      go vet, gofmt check, staticcheck, broker imports only engine's façade"
	@echo "make stress    crash, torn-tail, bit-flip, kill -9 and power-loss tests at nightly size"
	@echo "make soak      T23 soak at nightly size: 100 producers + 100 consumers for 30 min"
	@echo "make build     build bin/wharf"

build:
	$(GO) build -o bin/wharf ./tools/wharf

run: build
	./bin/wharf standalone --data $(DATA)

# The main pass runs with the invariants tag (engine/invariants: expensive
# self-checks that panic); the race pass runs without it, as production builds.
test:
	$(GO) vet $(PKGS)
	$(GO) test -tags invariants -timeout 20m $(PKGS)
	$(GO) test -race -short -timeout 20m $(RACE)

testrace:
	$(GO) test -race -timeout 30m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) -timeout 60m ./engine/... ./index/... ./remoting/... | tee bench-new.txt

FUZZTIME ?= 30s
fuzz:
	@for t in $$($(GO) test -list 'Fuzz.*' ./fuzz/ | grep ^Fuzz); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./fuzz/ || exit 1; \
	done

lint:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 $(PKGS)
	@$(MAKE) --no-print-directory lint-imports

# The broker uses the engine only through engine.Store (and engine/msg):
# no package under broker/ may import the engine's parts (issue 10).
lint-imports:
	@bad=$$($(GO) list -f '{{range .Imports}}{{$$.ImportPath}} imports {{.}}{{"\n"}}{{end}}' ./broker/... | \
		grep -E ' imports github.com/wharfmq/wharf/(engine/commitlog|engine/queue|index)$$'); \
	if [ -n "$$bad" ]; then echo "broker must go through engine.Store:"; echo "$$bad"; exit 1; fi

stress:
	$(GO) test -timeout 60m ./engine/commitlog/ -run 'TestCrashCloneSyncFlush|TestTornTail' -args -crashpoints=100000 -torn-full
	$(GO) test -timeout 60m ./engine/ -run 'TestModel' -args -model-seeds=100
	$(GO) test -timeout 60m ./engine/commitlog/ -run 'TestCheckDetectsEveryBitFlip' -args -check-trials=1000
	$(GO) test -timeout 90m ./tools/e2e/ -run 'TestKill9' -args -kills=100
	$(GO) test -timeout 30m ./broker/ -run 'TestPowerLoss' -args -powerloss-points=200

# T23 at full size: 100 producers + 100 push consumers for 30 minutes.
soak:
	WHARF_SOAK=30m $(GO) test -timeout 45m -v ./tools/e2e/ -run 'TestSoak$$'

clean:
	rm -rf bin bench-new.txt

# Wharf: see README.md. `make` alone lists the targets.
GO      ?= go
DATA    ?= ./wharf-data
PKGS    := ./...
RACE    := ./engine/... ./index/... ./remoting/... ./nameserver/... ./fuzz/... ./internal/... ./acl/ \
           ./broker/brokerstats/ ./broker/client/ ./broker/longpoll/ ./broker/meta/ ./broker/offsets/ ./broker/retry/ ./broker/schedule/ ./broker/transaction/ ./broker/ha/ ./broker/ha/autoswitch/ ./broker/ha/epoch/ ./broker/slavesync/ ./broker/failover/ ./controller/...
# Package broker's tests mostly drive the official Go client, which races
# internally; these do not, and cover its own concurrent paths.
RACE_BROKER := TestRegistration|TestPipelinedSyncMasterSends|TestCreateTopicAnswersDespiteAStalledNameServer|TestPendingRole|TestSlaveOfAMasterThatLostItsTail|TestSyncMasterAnswers
BENCH   ?= .
COUNT   ?= 6

.PHONY: help build release run test testrace bench fuzz lint lint-deps stress soak clean

help:
	@echo "make run       start wharf standalone (name server 127.0.0.1:9876, broker 127.0.0.1:10911, data in $(DATA))"
	@echo "make test      vet + all tests (invariants on) + race tests of the storage, protocol and broker-service packages"
	@echo "make testrace  every package under the race detector"
	@echo "make bench     Go benchmarks, $(COUNT) runs each, into bench-new.txt for benchstat"
	@echo "make fuzz      each fuzz target for FUZZTIME (default 30s)"
	@echo "make lint      go vet, gofmt and import-grouping checks, staticcheck, the darwin build and vet, lint-deps"
	@echo "make lint-deps the broker imports no engine internals (engine/commitlog, engine/queue, index); only broker and broker/brokertest import remoting"
	@echo "make stress    crash, torn-tail, bit-flip, kill -9, SIGTERM, power-loss, master-failover and controller-mode chaos tests at nightly size"
	@echo "make soak      T23 soak at nightly size: 100 producers + 100 consumers for 30 min"
	@echo "make build     build bin/wharf"
	@echo "make release   bin/release/wharf-VERSION-OS-ARCH for linux and darwin, amd64 and arm64, version stamped"

# -buildvcs=auto: wharf version shows the commit even where GOFLAGS turns
# VCS stamping off (it does on some machines here).
build:
	$(GO) build -buildvcs=auto -o bin/wharf ./tools/wharf

# Release binaries, version-stamped (wharf version shows it): VERSION is
# git describe's tag or commit (with -dirty for a modified tree).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION := $(shell git rev-parse HEAD 2>/dev/null)
REVTIME  := $(shell git log -1 --format=%cI 2>/dev/null)
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
LDFLAGS  := -s -w -X github.com/wharfmq/wharf/tools/cli.stampedVersion=$(VERSION) \
	-X github.com/wharfmq/wharf/tools/cli.stampedRevision=$(REVISION) -X github.com/wharfmq/wharf/tools/cli.stampedTime=$(REVTIME)

release:
	@mkdir -p bin/release
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=bin/release/wharf-$(VERSION)-$$os-$$arch; \
		echo "$$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./tools/wharf || exit 1; \
	done
	@cd bin/release && sha256sum wharf-$(VERSION)-* > SHA256SUMS-$(VERSION)

run: build
	./bin/wharf standalone --data $(DATA)

# The main pass runs with the invariants tag (engine/invariants: expensive
# self-checks that panic); the race pass runs without it, as production builds.
test:
	$(GO) vet $(PKGS)
	$(GO) test -tags invariants -timeout 20m $(PKGS)
	$(GO) test -race -short -timeout 20m $(RACE)
	$(GO) test -race -short -timeout 10m -run '$(RACE_BROKER)' ./broker/

testrace:
	$(GO) test -race -timeout 30m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(COUNT) -timeout 60m ./engine/... ./index/... ./remoting/... | tee bench-new.txt

FUZZTIME ?= 30s
fuzz:
	@for t in $$($(GO) test -list 'Fuzz.*' ./fuzz/ | grep ^Fuzz); do \
		echo "== $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./fuzz/ || exit 1; \
	done

# Lint tools come through the Go module proxy at pinned versions (CI has
# nothing else). goimports without -local enforces the house grouping:
# standard library, a blank line, then every module (wharf's own included).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOIMPORTS   := golang.org/x/tools/cmd/goimports@v0.52.0
GOFILES      = $$(git ls-files '*.go')

lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $(GOFILES)) || exit 1; test -z "$$out" || (echo "gofmt needed:"; echo "$$out"; exit 1)
	@out=$$($(GO) run $(GOIMPORTS) -l $(GOFILES)) || exit 1; \
	test -z "$$out" || (echo "imports need grouping (standard library, blank line, modules):"; echo "$$out"; exit 1)
	$(GO) run $(STATICCHECK) $(PKGS)
	GOOS=darwin $(GO) build $(PKGS)
	GOOS=darwin $(GO) vet $(PKGS)
	@$(MAKE) --no-print-directory lint-deps

# The broker reaches the storage engine only through its façade (engine,
# engine/msg): no non-test package under broker/ imports the CommitLog, the
# consume queues or the index directly. (Transitively they are always there,
# through engine.) And only the root package (the wire adapters) and the
# test kit import remoting: a service under broker/ takes and returns plain
# values, its tests included; remoting/body (the wire types) is allowed.
LINTDEPS_BANNED := github.com/wharfmq/wharf/(engine/commitlog|engine/queue|index)
lint-deps:
	@imports=$$($(GO) list -f '{{$$p := .ImportPath}}{{range .Imports}}{{$$p}} imports {{.}}{{"\n"}}{{end}}' ./broker/...) || exit 1; \
	bad=$$(echo "$$imports" | grep -E ' $(LINTDEPS_BANNED)$$'); \
	if [ -n "$$bad" ]; then echo "broker must use the engine façade only:"; echo "$$bad"; exit 1; fi
	@imports=$$($(GO) list -f '{{$$p := .ImportPath}}{{range .Imports}}{{$$p}} imports {{.}}{{"\n"}}{{end}}{{range .TestImports}}{{$$p}} imports {{.}}{{"\n"}}{{end}}{{range .XTestImports}}{{$$p}} imports {{.}}{{"\n"}}{{end}}' ./broker/...) || exit 1; \
	bad=$$(echo "$$imports" | grep -E ' github.com/wharfmq/wharf/remoting$$' | grep -vE '^github.com/wharfmq/wharf/broker(/brokertest)? '); \
	if [ -n "$$bad" ]; then echo "only package broker and broker/brokertest may import remoting (services take plain values; remoting/body is allowed):"; echo "$$bad"; exit 1; fi

stress:
	$(GO) test -timeout 60m ./engine/commitlog/ -run 'TestCrashCloneSyncFlush|TestTornTail' -args -crashpoints=100000 -torn-full
	$(GO) test -timeout 60m ./engine/ -run 'TestModel' -args -model-seeds=100
	$(GO) test -timeout 60m ./engine/commitlog/ -run 'TestCheckDetectsEveryBitFlip' -args -check-trials=1000
	$(GO) test -timeout 90m ./tools/e2e/ -run 'TestKill9|TestSigtermUnderLoad|TestSyncMasterKill9' -args -kills=100 -sigterm-cycles=10 -ha-kills=20
	$(GO) test -timeout 10m ./tools/e2e/ -run 'TestTwoGroupsMasterDies' -args -groups-long
	$(GO) test -timeout 60m ./tools/e2e/ -run 'TestChaos' -args -chaos-rounds=20
	$(GO) test -timeout 30m ./broker/ -run 'TestPowerLoss' -args -powerloss-points=200 -powerloss-interval=500ms

# T23 at full size: 100 producers + 100 push consumers for 30 minutes.
soak:
	$(GO) test -timeout 45m -v ./tools/e2e/ -run 'TestSoak$$' -args -soak=30m -soak-clients=100

clean:
	rm -rf bin bench-new.txt

# The README's two commands are `go run ./cmd/sdp up` and `make test`; CI runs `make test` (.ci/run).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS  ?= -race -count=1 -timeout 25m
BENCH_COUNT ?= 6

.PHONY: test fuzz fuzz-differential lint bench bench-go bench-ingest bench-compare build tools clean

## test: install what the tests need, lint, and run every test (the README's test command)
test: tools lint
	SDP_REQUIRE_AWSCLI=1 SDP_REQUIRE_NPM_TOOLS=1 SDP_REQUIRE_EMULATORS=1 $(GO) test $(TEST_FLAGS) ./...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

## fuzz: every fuzz target of the module (decoders, parsers, the differential validators) for FUZZTIME each;
## a crasher fails the run and is saved under the package's testdata/fuzz, where it stays as a regression test.
## Two targets run at a time (FUZZ_JOBS); make test runs each for TEST_FUZZTIME.
TEST_FUZZTIME ?= 30s
fuzz:
	bash tools/fuzz.sh $(FUZZTIME)

## fuzz-differential: the schema-compiled validator against the reference validator, on fuzzed event bytes and
## on generated documents, for a bounded time each (FUZZTIME); a disagreement fails and is saved in testdata/fuzz
FUZZTIME ?= 30s
fuzz-differential:
	bash tools/fuzz.sh $(FUZZTIME) 'MatchesReference$$'

## tools: Go modules, the pinned npm test tools (tools/npm) and the AWS CLI v2 (a real client of the local Lambda Invoke API)
tools:
	$(GO) mod download
	bash tools/install.sh

## lint: gofmt, go vet and staticcheck must all be clean
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## bench: every Go benchmark, then ingest against a bare parsing server, then the hot path side by side with
## the TypeScript peers; it ends with the consumer: and validate: lines of that run
bench: bench-go bench-ingest bench-compare

## bench-go: every Go benchmark, in the form benchstat reads (go run golang.org/x/perf/cmd/benchstat bench.txt)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./... | tee bench.txt

## bench-ingest: the highest rate sdp up ingests (consumer stopped) with p99 < 50 ms, against a bare Go server
## that only parses the same bodies
bench-ingest: build
	$(GO) run ./tools/benchingest -sdp bin/sdp -sdp-args --no-consumer -start 800 -growth 1.2 -rounds 2 -out bin/benchingest.json

## bench-compare: consumer path and validation on one core beside Powertools (TypeScript) and Node + ajv
bench-compare: tools
	$(GO) run ./tools/benchcmp -records 10000 -invalid 0.01 -duration 3s -rounds 3 -cpu 1 -out bin/benchcmp

## build: the sdp CLI into bin/
build:
	$(GO) build -o bin/sdp ./cmd/sdp

## lambda: the functions' bootstrap for provided.al2023 on arm64, as $(LAMBDA_DIR)/<name>/bootstrap (one binary:
## Lambda's _HANDLER setting chooses the function), and the size of each
LAMBDA_FUNCTIONS := ingest consumer enrich persist analytics export
LAMBDA_DIR       ?= bin/lambda
LAMBDA_BUILD     := GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w'

.PHONY: lambda build-IngestFunction build-ConsumerFunction build-EnrichFunction build-PersistFunction build-AnalyticsFunction build-ExportFunction

lambda:
	@mkdir -p "$(LAMBDA_DIR)"
	$(LAMBDA_BUILD) -o "$(LAMBDA_DIR)/bootstrap" ./cmd/lambda
	@for f in $(LAMBDA_FUNCTIONS); do \
	  mkdir -p "$(LAMBDA_DIR)/$$f" && cp "$(LAMBDA_DIR)/bootstrap" "$(LAMBDA_DIR)/$$f/bootstrap" || exit 1; \
	  printf '%-30s %10d bytes\n' "$(LAMBDA_DIR)/$$f/bootstrap" $$(wc -c < "$(LAMBDA_DIR)/$$f/bootstrap"); \
	done
	@rm -f "$(LAMBDA_DIR)/bootstrap"

## build-<LogicalId>: what `sam build` runs for each function of infrastructure/template.yaml (BuildMethod:
## makefile, CodeUri: the repository); SAM sets ARTIFACTS_DIR
lambda_name = $(shell printf '%s' '$(patsubst build-%Function,%,$(1))' | tr '[:upper:]' '[:lower:]')

build-IngestFunction build-ConsumerFunction build-EnrichFunction build-PersistFunction build-AnalyticsFunction build-ExportFunction: lambda
	@test -n "$(ARTIFACTS_DIR)" || { echo "$@: ARTIFACTS_DIR is not set (sam build sets it)"; exit 1; }
	cp "$(LAMBDA_DIR)/$(call lambda_name,$@)/bootstrap" "$(ARTIFACTS_DIR)/bootstrap"

clean:
	rm -rf bin bench.txt

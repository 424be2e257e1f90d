# The README's two commands are `go run ./cmd/sdp up` and `make test`; CI runs `make test` (.ci/run).

GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS  ?= -race -count=1 -timeout 25m
BENCH_COUNT ?= 6

.PHONY: test lint bench build tools clean

## test: install what the tests need, lint, and run every test (the README's test command)
test: tools lint
	SDP_REQUIRE_AWSCLI=1 SDP_REQUIRE_NPM_TOOLS=1 SDP_REQUIRE_EMULATORS=1 $(GO) test $(TEST_FLAGS) ./...

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

## bench: every benchmark, in the form benchstat reads (go run golang.org/x/perf/cmd/benchstat bench.txt)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./... | tee bench.txt

## build: the sdp CLI into bin/
build:
	$(GO) build -o bin/sdp ./cmd/sdp

clean:
	rm -rf bin bench.txt

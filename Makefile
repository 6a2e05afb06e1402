# lmtokens: build, test and run the LogicMonitor token functions.
SHELL := /bin/bash
GO ?= go
ARCH ?= arm64
FUNCTIONS := list create toggle delete
# Lambda's provided.al2023 runtime: static, stripped, reproducible binaries
# without the RPC mode that only the go1.x runtime needed.
BUILD_FLAGS := -trimpath -tags lambda.norpc -ldflags "-s -w -buildid="

.PHONY: all build test vet staticcheck unit bench fuzz fmt clean

all: build

build: $(addprefix bin/,$(addsuffix /bootstrap,$(FUNCTIONS)))

bin/%/bootstrap: FORCE
	@mkdir -p $(@D)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build $(BUILD_FLAGS) -o $@ ./functions/$*

FORCE:

test: vet staticcheck unit

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

staticcheck:
	$(GO) tool staticcheck ./...

unit:
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

fuzz:
	$(GO) test ./pkg/lmauth -run '^$$' -fuzz FuzzLMv1MatchesReference -fuzztime 30s

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin cdk.out

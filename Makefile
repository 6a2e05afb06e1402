# lmtokens: build, test and run the LogicMonitor token functions.
SHELL := /bin/bash
GO ?= go
# Linters run by version, outside the product's module graph.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build build-local test test-race test-deploy test-variance vet staticcheck tidy unit bench fuzz fmt clean invoke demo local doctor synth deploy diff bootstrap openapi docs
# Binaries for this machine, for the local runs (make invoke, demo, local).
LOCAL_BIN := bin/local
LOCAL_TOOL := $(LOCAL_BIN)/lmtokens-local
FN ?=
EVENT ?= events/list-rest.json
PORT ?= 3000
# The CDK CLI, pinned; fetched from npm by npx only for deploy, diff, bootstrap.
CDK_CLI_VERSION ?= 2.1148.1
CDK := npx --yes aws-cdk@$(CDK_CLI_VERSION)
# jsii (the CDK's Go bridge) warns loudly on Node 20; the synth works the same.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

all: build

# The release binaries, bin/<binary>/bootstrap (flags in pkg/release), for
# the architecture cdk.json declares. Deploying needs none of this: the
# CDK app builds them itself.
build:
	$(GO) run ./infra/build -out bin

# The functions and the local tool, built for this machine; rebuilt only
# when a Go source or the module's requirements changed since, so that each
# make invoke or demo does not link seven binaries again.
LOCAL_SOURCES := $(shell find functions pkg infra/build -name '*.go' -not -name '*_test.go' 2>/dev/null) go.mod go.sum
build-local: $(LOCAL_BIN)/.built
$(LOCAL_BIN)/.built: $(LOCAL_SOURCES)
	@$(GO) run ./infra/build -out $(LOCAL_BIN) -arch ""
	@$(GO) build -o $(LOCAL_TOOL) ./pkg/local/localdev/cmd/lmtokens-local
	@touch $@

# Run one event through a function's real binary against the sandbox:
#   make invoke FN=create EVENT=events/create-rest.json
invoke: build-local
	@$(LOCAL_TOOL) invoke -bin $(LOCAL_BIN) $(if $(FN),-fn $(FN)) $(EVENT)

# The guided walkthrough: every step through the real binaries.
demo: build-local
	@$(LOCAL_TOOL) demo -bin $(LOCAL_BIN)

# The preflight: every assumption lmtokens relies on, checked against your
# portal and AWS account (LM_CREDENTIALS_SECRET and AWS credentials set),
# else against the sandbox. Reads only, unless WRITE=1 TEST_USER=<adminId>.
doctor: build-local
	@$(LOCAL_TOOL) doctor -bin $(LOCAL_BIN)

# The HTTP API on 127.0.0.1:$(PORT), as sam local start-api would serve it.
local: build-local
	@$(LOCAL_TOOL) serve -bin $(LOCAL_BIN) -addr 127.0.0.1:$(PORT)

test: vet staticcheck tidy unit

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# go.mod and go.sum must already be tidy.
tidy:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

# The suites wait on sandboxes and binaries far more than they compute:
# -parallel 16 lets sixteen of a package's tests wait at once on 2 cores
# (the handlers suite alone: 97 s at the default of GOMAXPROCS, 38 s at 8,
# 27 s at 16). A developer's warm make test stays under a minute: it leaves
# the six longest tests (pkg/local/longtest) and the race detector, which
# costs 24 s of linking alone and cannot see into the function binaries
# the suites run, to test-race, which CI runs.
unit:
	LMTOKENS_QUICK=1 $(GO) test -count=1 -parallel 16 ./...

# Every test, the long ones included, with the race detector (which slows
# them enough that eight at once is the most the 2-core CI keeps in time).
test-race:
	$(GO) test -race -count=1 -parallel 8 ./...

# The binary-level suites again, against the sandbox's variance mode: what
# LogicMonitor's documentation leaves open, in its other plausible forms.
test-variance:
	LMSANDBOX_VARIANCE=1 $(GO) test -count=1 -parallel 8 ./pkg/handlers ./pkg/local/doctor

# The Go benchmarks, then every figure of BENCHMARKS.md measured side by side.
bench: build build-local
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...
	@$(LOCAL_TOOL) bench -bin $(LOCAL_BIN) -release bin -out BENCHMARKS.md

# Each fuzz target for FUZZTIME (make test runs their seed corpora only).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./pkg/lmauth -run '^$$' -fuzz FuzzLMv1MatchesReference -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/handlers -run '^$$' -fuzz FuzzHandlerInput -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/apievent -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/cleanup -run '^$$' -fuzz FuzzPolicyOverride -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/logicmonitor -run '^$$' -fuzz FuzzTokenEncoding -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/lmclient -run '^$$' -fuzz FuzzFastDecodeAgreesWithEncodingJSON -fuzztime $(FUZZTIME)

# The API's OpenAPI document, from the route table and the answer types
# (a test fails while the committed one is not current).
openapi:
	$(GO) run ./pkg/local/apidoc/cmd/openapi

# infra/README.md's configuration table, from the declarations of pkg/settings.
docs:
	LMTOKENS_UPDATE_DOCS=1 $(GO) test -count=1 -run 'TestConfigurationTableIsCurrent|TestGovernanceTableIsCurrent|TestWorkflowDefinitionsAreValid' ./pkg/settings ./pkg/posture ./infra

# The CloudFormation template and assets in cdk.out/, without the CDK CLI:
# the same template cdk synth makes (make test-deploy checks it).
synth:
	rm -rf cdk.out
	$(GO) run ./infra/app
	@echo "cdk.out written"

# The deploy path from a fresh clone: the pinned CLI's synth against make synth.
test-deploy:
	LMTOKENS_TEST_DEPLOY=1 $(GO) test -count=1 -run 'TestCLISynthFromAFreshCloneMatchesMakeSynth|TestCfnLintEveryVariant' ./infra

# For users with an AWS account (credentials in the environment or a profile).
# The app builds the binaries for the stack's architecture on every synth.
bootstrap:
	$(CDK) bootstrap

diff:
	$(CDK) diff

deploy:
	$(CDK) deploy --require-approval broadening

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin cdk.out

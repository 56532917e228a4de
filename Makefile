# CRM suite. `make run` starts everything locally; `make test` runs the
# tests. Both work on a fresh machine with Go and the PostgreSQL server
# binaries (see README).

SHELL := /bin/bash
GO    ?= go
PKGS  := github.com/crmsuite/crm/...
# Main packages `make build` produces in bin/.
CMDS  := ./services/lead/cmd/lead ./services/account/cmd/account ./services/opportunity/cmd/opportunity ./services/order/cmd/order ./services/workflow/cmd/workflow ./gateway/cmd/gateway ./platform/cmd/devstack ./platform/cmd/devtoken
# Code generators pinned in tools/go.mod, built into .bin/.
TOOLS := github.com/bufbuild/buf/cmd/buf \
         google.golang.org/protobuf/cmd/protoc-gen-go \
         google.golang.org/grpc/cmd/protoc-gen-go-grpc \
         github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway \
         github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv3 \
         github.com/grpc-ecosystem/grpc-gateway/v2/openapiv3-merge \
         github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen \
         ./cmd/openapidoc
# Generated from proto/, committed, checked fresh by gen-check.
OPENAPI   := gateway/internal/openapi
GENERATED := gen/go/crm gen/descriptor $(OPENAPI)/openapi.json $(OPENAPI)/openapi.yaml gateway/restclient/restclient.gen.go
# Node tools (OpenAPI linter, TypeScript client, grpc-js), pinned in tools/node.
NODE_TOOLS := tools/node/node_modules/.bin

.PHONY: help run build test chaos bench bench-smoke gen gen-check descriptors lint openapi-lint node-tools tools vendor-protos deploy-check ci clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: build ## run the suite locally (Postgres, NATS, services, gateway on 127.0.0.1:8080); MODULES=account,workflow runs only those (default all)
	MODULES="$(MODULES)" bin/devstack

build: ## build every binary into bin/
	$(GO) build -o bin/ $(CMDS)

test: ## vet, then all tests with the race detector (real Postgres and NATS)
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 20m $(PKGS)
	GOWORK=off $(GO) -C tools test ./cmd/openapidoc

chaos: ## the lifecycle chaos test alone, verbose (part of `make test`); size it with CHAOS_N, CHAOS_ROUNDS, CHAOS_CONVERGE
	$(GO) test -race -count=1 -timeout 60m -run TestLifecycleChaos -v ./gateway/e2e/

bench: build ## benchmarks: leads (leadbench, with the duplicate check across leads, contacts and accounts), conversion across services (conversionbench), opportunities (opportunitybench), orders (orderbench), workflow (workflowbench), contact lists (accountbench), account merges across the services (mergebench), CreateLead traced (leadbench -otel)
	$(GO) run ./services/lead/cmd/leadbench $(BENCH_ARGS)
	$(GO) run ./platform/cmd/conversionbench $(CONVERSION_BENCH_ARGS)
	$(GO) run ./services/opportunity/cmd/opportunitybench -bin bin/opportunity $(OPPORTUNITY_BENCH_ARGS)
	$(GO) run ./services/order/cmd/orderbench -bin bin $(ORDER_BENCH_ARGS)
	$(GO) run ./services/workflow/cmd/workflowbench -bin bin $(WORKFLOW_BENCH_ARGS)
	$(GO) run ./services/account/cmd/accountbench -bin bin/account $(ACCOUNT_BENCH_ARGS)
	$(GO) run ./services/account/cmd/mergebench -bin bin $(MERGE_BENCH_ARGS)
	$(GO) run ./services/lead/cmd/leadbench -methods grpc -concurrency 32 -duration 15s -list-rows 0 -import-rows 0 -otel $(TRACE_BENCH_ARGS)

bench-smoke: build ## every benchmark tool at tiny sizes, seconds each: keeps them working (CI), measures nothing
	$(GO) run ./services/lead/cmd/leadbench -smoke
	$(GO) run ./services/lead/cmd/leadbench -smoke -methods grpc -otel
	$(GO) run ./platform/cmd/conversionbench -smoke
	$(GO) run ./services/opportunity/cmd/opportunitybench -bin bin/opportunity -smoke
	$(GO) run ./services/order/cmd/orderbench -bin bin -smoke
	$(GO) run ./services/workflow/cmd/workflowbench -bin bin -smoke
	$(GO) run ./services/account/cmd/accountbench -bin bin/account -smoke
	$(GO) run ./services/account/cmd/mergebench -bin bin -smoke

tools: ## build the pinned code generators into .bin/
	GOWORK=off $(GO) -C tools build -o ../.bin/ $(TOOLS)

gen: tools ## regenerate code, the descriptor set, the OpenAPI document and its Go client from proto/
	rm -rf $(GENERATED) .gen
	.bin/buf generate
	.bin/openapiv3-merge $$(find .gen/openapi -name '*.openapi.json' | LC_ALL=C sort) > .gen/merged.openapi.json
	.bin/openapidoc -in .gen/merged.openapi.json -add $(OPENAPI)/handwritten.yaml \
	  -json $(OPENAPI)/openapi.json -yaml $(OPENAPI)/openapi.yaml
	.bin/oapi-codegen -config gateway/restclient/oapi-codegen.yaml $(OPENAPI)/openapi.json
	rm -rf .gen
	$(MAKE) --no-print-directory descriptors

descriptors: tools ## the API's descriptor set for gRPC callers in other languages: gen/descriptor/crm.binpb
	@mkdir -p gen/descriptor
	.bin/buf build -o gen/descriptor/crm.binpb

gen-check: gen ## fail when committed generated code is stale
	@git diff --exit-code --stat -- $(GENERATED) && \
	  test -z "$$(git status --porcelain -- $(GENERATED))" || \
	  { echo "generated code is stale: run 'make gen' and commit"; exit 1; }

lint: tools ## buf lint and format, gofmt
	.bin/buf lint
	.bin/buf format --diff --exit-code
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/')); \
	  test -z "$$unformatted" || { echo "gofmt needed: $$unformatted"; exit 1; }

vendor-protos: ## re-print third_party/*.proto from the Go modules that carry them
	GOWORK=off $(GO) -C tools run ./cmd/protovendor -out ../third_party
	.bin/buf format -w third_party

node-tools: ## install the pinned Node tools (tools/node, npm ci)
	npm ci --prefix tools/node --no-audit --no-fund

openapi-lint: ## lint the served OpenAPI document (Redocly, tools/node/redocly.yaml)
	@test -x $(NODE_TOOLS)/redocly || { echo "run 'make node-tools' first"; exit 1; }
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
	  $(NODE_TOOLS)/redocly lint --config tools/node/redocly.yaml $(OPENAPI)/openapi.json

deploy-check: ## render the Kubernetes overlays and check them
	cd deploy/k8s/check && GOWORK=off $(GO) test -count=1 ./...

ci: lint gen-check node-tools openapi-lint test bench-smoke deploy-check ## what CI runs

clean: ## remove build output (keeps .data/, the local database)
	rm -rf bin .bin

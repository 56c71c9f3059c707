# Thin wrappers: each target is one npm script or one docker command, so the Makefile
# and package.json never disagree. `make help` lists them. Pass arguments to the
# npm scripts with ARGS, e.g. make sim ARGS="--seed 7 --nodes 5".

COMPOSE := docker compose -f compose/docker-compose.yml
IMAGE := kvstore:local
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help build test lint typecheck start observe sim soak bench bench-memory fuzz docker-build compose-up compose-down

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN { FS = ":.*## " } { printf "  %-14s %s\n", $$1, $$2 }'

build: ## compile to dist/ (npm run build)
	npm run build

test: ## build, then every test (npm test)
	npm test

lint: ## eslint (npm run lint)
	npm run lint

typecheck: ## tsc --noEmit (npm run typecheck)
	npm run typecheck

start: ## the local 3-node cluster, logs for people (npm start)
	npm start -- $(ARGS)

observe: ## the local cluster plus Prometheus, printing the dashboard (npm run observe)
	npm run observe -- $(ARGS)

sim: ## one simulator run (npm run sim)
	npm run sim -- $(ARGS)

soak: ## thousands of simulator seeds (npm run sim:soak)
	npm run sim:soak -- $(ARGS)

bench: ## load a fresh local cluster, print rates, latencies and server CPU per op (npm run bench)
	npm run bench -- $(ARGS)

bench-memory: ## heap after writing and deleting 1,000,000 keys (npm run bench:memory)
	npm run bench:memory -- $(ARGS)

fuzz: ## the fuzzers at 20x the test suite's scale (npm run fuzz)
	npm run fuzz -- $(ARGS)

docker-build: ## the node image from compose/Dockerfile
	docker build -f compose/Dockerfile -t $(IMAGE) .

compose-up: ## 3 nodes + Prometheus (9090) + Grafana (3000), built and started
	$(COMPOSE) up -d --build

compose-down: ## stop the compose cluster (the data volumes stay)
	$(COMPOSE) down

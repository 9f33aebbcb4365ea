# kipvs: make setup | test | build | demo | bench
# Every target runs the Deno pinned in package.json, installed by `make setup`.

DENO := node_modules/@deno/linux-x64-glibc/deno
PERMISSIONS = $(shell grep -v '^\#' scripts/permissions)

.PHONY: setup test test-unit test-kernel lint build clean demo

## setup: install the Debian packages, the pinned Deno and the npm packages (about 1 s when done)
setup:
	@scripts/setup.sh

## lint: formatting, lint and type checks
lint: setup
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check main.ts src tests scripts

## test: lint, then unit and kernel tests (kernel tests boot User-Mode Linux guests, in parallel)
test: lint
	$(DENO) test --allow-all --parallel tests/

test-unit: setup
	$(DENO) test --allow-all --parallel --ignore=tests/kernel tests/

test-kernel: setup
	$(DENO) test --allow-all --parallel tests/kernel/

## build: compile dist/kipvs with the permissions of scripts/permissions. Deno downloads its
## runtime (denort) for this; offline, point DENORT_BIN at a denort binary of the same version.
build: setup
	$(DENO) compile $(PERMISSIONS) --include src/observe/probes_worker.ts \
		--include src/source/_parse_worker.ts --output dist/kipvs main.ts

clean:
	rm -rf dist

## demo: boot the test kernel and show kipvs at work in it
demo: setup
	$(DENO) run --allow-all scripts/demo.ts

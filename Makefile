# kipvs: make setup | test | kernel | build | demo | bench
# Every target runs the Deno pinned in package.json, installed by `make setup`.

DENO := node_modules/@deno/linux-x64-glibc/deno
PERMISSIONS = $(shell grep -v '^\#' scripts/permissions)

# Kernel test files run in parallel, JOBS at a time: guests spend much of their time waiting (sync
# periods, timeouts), so more than the 2 cores pays. A file's tests (its matrix cells) run one
# after the other; the longest kernel test files start first, so the last to start are short.
# Unit tests run before them, beside no guest: some of them time the main thread.
JOBS ?= 4
SLOW_TESTS := $(wildcard $(addprefix tests/kernel/,diag_test.ts ipset_netlink_test.ts \
  cluster_test.ts ipvs_test.ts rules_test.ts e2e_traffic_test.ts daemon_test.ts \
  e2e_lifecycle_test.ts incremental_test.ts nftables_test.ts sysctl_test.ts))

.PHONY: setup test test-unit test-kernel kernel lint build clean demo

## setup: install the Debian packages, the pinned Deno and the npm packages (about 1 s when done)
setup:
	@scripts/setup.sh

## lint: formatting, lint and type checks
lint: setup
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check main.ts src tests scripts

## kernel: build the project's Linux 6.12 test kernel if it is not cached (once per machine, about
## 11 minutes on 2 cores); its absolute path is the last line
kernel: setup
	@scripts/kernel.sh

## test: lint, then unit and kernel tests (the kernel test matrix boots User-Mode Linux guests of
## both kernels, in parallel); builds the 6.12 kernel first when it is not cached
test: lint kernel
	$(DENO) test --allow-all --parallel --ignore=tests/kernel tests/
	DENO_JOBS=$(JOBS) $(DENO) test --allow-all --parallel $(SLOW_TESTS) tests/kernel/

test-unit: setup
	DENO_JOBS=$(JOBS) $(DENO) test --allow-all --parallel --ignore=tests/kernel tests/

## test-kernel: the kernel tests; CELL="6.12 nft" (or "6.1 legacy") runs one cell of the matrix
test-kernel: setup kernel
	DENO_JOBS=$(JOBS) $(DENO) test --allow-all --parallel $(if $(CELL),--filter "[$(CELL)]") \
	  $(SLOW_TESTS) tests/kernel/

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

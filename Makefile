# Tributary: the two commands of the README, and the checks CI runs.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test deps check fmt clippy unit bench fuzz-build fuzz build

## Build and start the standalone server with embedded defaults.
run:
	$(CARGO) run --release -p tributary -- standalone

build:
	$(CARGO) build --workspace --all-targets

## Install missing test tools (as root, from Debian's packages), then run every check and test.
test: deps check unit

deps:
	@bash scripts/install-test-tools.sh

check: fmt clippy

fmt:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace --doc
	if command -v cargo-nextest >/dev/null; then $(CARGO) nextest run --workspace --no-fail-fast; \
	else $(CARGO) test --workspace --no-fail-fast; fi

## Throughput and fan-out figures (criterion).
bench:
	$(CARGO) bench -p media
	$(CARGO) bench -p edge-node --bench ts_latency

## Build every fuzz target; `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
fuzz-build:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -O

fuzz: fuzz-build
	cd fuzz && for t in $$(RUSTC_BOOTSTRAP=1 $(CARGO) fuzz list); do \
	  echo "== $$t"; RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	done

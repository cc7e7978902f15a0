# The two commands of the README: `make demo` and `make test`. Each installs
# what is missing (Debian packages), builds, and runs.
.PHONY: all deps build demo test test-release test-asan bench fuzz format format-check tidy clean

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 600

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: build
	@./scripts/demo.sh

test: test-release test-asan

test-release: build
	@./scripts/install-deps.sh node
	@./scripts/npm-install.sh tests/fhir_schema
	@./scripts/npm-install.sh tests/fhir_server
	@ctest --preset release -j $(JOBS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: deps
	@./scripts/install-deps.sh node
	@./scripts/npm-install.sh tests/fhir_schema
	@./scripts/npm-install.sh tests/fhir_server
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)

bench: build
	@./bench/run.sh

# libFuzzer targets, each run for FUZZ_SECONDS (default 10 minutes).
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@./fuzz/run.sh $(FUZZ_SECONDS)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

tidy: build
	@./scripts/tidy.sh

clean:
	@rm -rf build

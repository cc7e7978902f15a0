# The two commands of the README: `make demo` and `make test`. Each installs
# what is missing (Debian packages), builds, and runs.
.PHONY: all deps test-deps build demo test test-release test-asan test-tsan bench fuzz format format-check tidy \
	dep-audit fresh-check package package-check clean

JOBS ?= $(shell nproc)
# Tests at twice the cores: about half of a test's time is spent waiting on
# processes, sockets and timers (make test-release at -j2 kept 1.1 of 2 cores
# busy; at -j4, 1.7, and the suite took 221 s instead of 288 s).
TEST_JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))
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

# What the tests execute besides the build: Debian's packages of the test
# group, then the pinned Node.js and the npm test tools.
test-deps: deps
	@./scripts/install-deps.sh test
	@./scripts/npm-install.sh tools/node tests/fhir_schema tests/fhir_server tests/web tests/deploy

test-release: build test-deps
	@ctest --preset release -j $(TEST_JOBS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
# built by clang: it compiles this build in half the time GCC takes (Boost's
# templates under GCC's UBSan), and the release build stays GCC's.
test-asan: test-deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(TEST_JOBS)

# The tests of threaded code (label `threads`: queue, HTTP server, Kafka, MQTT,
# identity, stores, the service) under ThreadSanitizer, built by clang, which
# also checks the locking annotations. Run by .ci/run (it does not fit in
# make test's time). It builds only what those tests run (target
# threaded_tests, tests/CMakeLists.txt).
test-tsan: test-deps
	@cmake --preset tsan >/dev/null
	@cmake --build --preset tsan -j $(JOBS) --target threaded_tests
	@ctest --preset tsan -j $(JOBS)

bench: build
	@./scripts/install-deps.sh bench
	@./scripts/npm-install.sh tools/node bench
	@./bench/run.sh

# libFuzzer targets, each run for FUZZ_SECONDS (default 10 minutes).
fuzz: deps
	@./scripts/install-deps.sh fuzz
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@./fuzz/run.sh $(FUZZ_SECONDS)

format:
	@./scripts/install-deps.sh style
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	@./scripts/install-deps.sh style
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

tidy: build
	@./scripts/install-deps.sh style
	@./scripts/tidy.sh

# Every header, library and program that the build, the tests and the scripts
# use must come from a package of scripts/install-deps.sh (or one it depends
# on): catches what a machine with extra packages hides. Reads the builds made
# before it (make test's).
dep-audit:
	@./scripts/dep-audit.sh

# The Debian package (build/package/iomt_VERSION_ARCH.deb) and the context of
# the Containerfile (docs/deploy.md).
package: build
	@./scripts/install-deps.sh package
	@./scripts/package.sh

# The package installed into a minimal Debian 12 root and its service tried
# there, the unit checked by systemd-analyze, the container image built and
# run with podman. Needs root; ~5 minutes.
package-check: build
	@./scripts/package-check.sh

# make demo and make test in a minimal Debian 12 root (mmdebstrap + chroot),
# from a clone of the committed HEAD: what a new machine meets. ~30 minutes.
fresh-check:
	@./scripts/fresh-check.sh

clean:
	@rm -rf build

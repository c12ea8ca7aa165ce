# Thin wrapper over CMake and CTest. Day-to-day targets:
#   make build   release build in build/
#   make run     build, then start `phonely-mcp serve` on ./phonely-mcp.db
#   make test    ASan+UBSan build in build-test/, every test with CTest (and,
#                once, `npm ci` of the end-to-end MCP test clients in tests/e2e)
#   make deps    install missing Debian packages (apt-get; sudo when not root)
#   make valgrind  the whole suite again under valgrind memcheck (CI runs it)
#   make bench   release build, then every benchmark (numbers, no assertions)
#   make format  clang-format every source file

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
WERROR     ?= $(if $(CI),ON,OFF)
STATE      ?= .phonely-mcp

# Debian packages, by name. BUILD_PKGS are needed to build and run,
# TEST_PKGS only to run the test suite (cppcheck and clang-tidy are CTest
# tests; valgrind runs the suite once more in CI; the PostgreSQL server runs
# the tests' own throwaway clusters, never a system one; HAProxy runs the
# example load balancer in front of two daemons). Node.js and npm (for the official
# MCP test clients) are installed from Debian only when the commands are
# missing, so a Node.js installed another way is left alone.
BUILD_PKGS = make cmake gcc libc6-dev pkg-config libmicrohttpd-dev libcjson-dev \
             libsqlite3-dev libsodium-dev libpq-dev
TEST_PKGS  = ca-certificates cppcheck clang-tidy valgrind postgresql haproxy
NODE_PKGS  = $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || echo nodejs npm)

SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test valgrind deps test-deps install-pkgs bench format clean

all: build

deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS="$(BUILD_PKGS)"

test-deps:
	@$(MAKE) --no-print-directory install-pkgs PKGS="$(BUILD_PKGS) $(TEST_PKGS) $(NODE_PKGS)"

# Install only what dpkg says is missing; `apt-get update` only when needed.
install-pkgs:
	@missing=""; for p in $(PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	        || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPHONELY_WERROR=$(WERROR) -DPHONELY_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)

# Start the daemon on the embedded SQLite default. The webhook token and
# the private listener's bearer token are made once with `phonely-mcp
# token` and kept in $(STATE)/ (mode 600), so the URL pasted into Phonely
# and the assistants' settings stay valid across restarts.
run: build
	@mkdir -p $(STATE) && chmod 700 $(STATE)
	@[ -s $(STATE)/webhook-token ] || (umask 077 && $(BUILD)/phonely-mcp token > $(STATE)/webhook-token)
	@[ -s $(STATE)/token ] || (umask 077 && $(BUILD)/phonely-mcp token > $(STATE)/token)
	@host=$${PHONELY_MCP_WEBHOOK_LISTEN:-127.0.0.1:8080}; \
	private=$${PHONELY_MCP_PRIVATE_LISTEN:-127.0.0.1:9090}; \
	echo ""; \
	echo "Webhook URL (paste into Phonely's Send Call Data action, behind your HTTPS proxy):"; \
	echo "  http://$$host/phonely/webhook/$$(cat $(STATE)/webhook-token)"; \
	echo "MCP endpoint for assistants: http://$$private/mcp"; \
	echo "  with the header  Authorization: Bearer $$(cat $(STATE)/token)"; \
	echo "Tokens are kept in $(STATE)/. Stop the daemon with Ctrl-C."; \
	echo ""
	PHONELY_MCP_WEBHOOK_TOKEN_FILE=$(STATE)/webhook-token PHONELY_MCP_TOKEN_FILE=$(STATE)/token \
	    exec $(BUILD)/phonely-mcp serve

# Release build of the daemon and the benchmark programs, then every
# benchmark on loopback (docs/performance.md); prints figures, asserts
# nothing, and is bounded in time.
#   BENCH_SECONDS=5  seconds per measured point
#   BENCH_1M=1       also build (once: about 9 minutes on 2 cores, 12.3 GB)
#                    and search a 1,000,000-call database
#   BENCH_PG=1       also PostgreSQL, on a throwaway cluster: ingest with one and
#                    two daemons, the 100k database copied over by `migrate`,
#                    get_call and the search matrix on it
#   BENCH_DOC=1      rewrite the figures in docs/performance.md from this run
# Generated databases are kept in $(BENCH_BUILD) and reused while the
# generator is unchanged. Figures go to $(BENCH_BUILD)/bench-results.txt; the
# run before is kept as bench-results.prev.txt, and every figure is printed
# next to its previous value.
BENCH_BUILD   ?= build-bench
BENCH_SECONDS ?= 5
BENCH_1M      ?=
BENCH_DOC     ?=
BENCH_CALLS    = 100000 $(if $(BENCH_1M),1000000)
BENCH_PG      ?=
BENCH_PG_CLUSTER = $(CURDIR)/$(BENCH_BUILD)/pg-cluster
BENCH_ONLY    ?=
BENCH_ENV      = PHONELY_TEST_BIN=$(BENCH_BUILD)/phonely-mcp \
                 $(if $(BENCH_ONLY),PHONELY_BENCH_ONLY=$(BENCH_ONLY)) \
                 PHONELY_BENCH_RESULTS=$(BENCH_BUILD)/bench-results.new.txt \
                 $(if $(BENCH_PG),PHONELY_TEST_PG_CLUSTER=$(BENCH_PG_CLUSTER) \
                     PHONELY_TEST_PG_SCRIPT=$(CURDIR)/tests/pg/cluster.sh)
bench: deps
	@mkdir -p $(BENCH_BUILD) && date +%s > $(BENCH_BUILD)/bench-started && \
	    rm -f $(BENCH_BUILD)/bench-results.new.txt
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DPHONELY_WERROR=$(WERROR)
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target phonely-mcp bench_ingest bench_mcp bench_report
	$(if $(BENCH_PG),sh tests/pg/cluster.sh start $(BENCH_PG_CLUSTER) >/dev/null)
	$(BENCH_ENV) $(BENCH_BUILD)/tests/bench_ingest $(BENCH_SECONDS) && \
	$(BENCH_ENV) $(BENCH_BUILD)/tests/bench_mcp $(BENCH_BUILD) $(BENCH_SECONDS) $(BENCH_CALLS); \
	status=$$?; $(if $(BENCH_PG),sh tests/pg/cluster.sh stop $(BENCH_PG_CLUSTER);) exit $$status
	@cd $(BENCH_BUILD) && \
	    echo "bench.total $$(( $$(date +%s) - $$(cat bench-started) )) s" >> bench-results.new.txt && \
	    { [ ! -f bench-results.txt ] || mv -f bench-results.txt bench-results.prev.txt; } && \
	    mv -f bench-results.new.txt bench-results.txt
	@$(BENCH_BUILD)/tests/bench_report $(BENCH_BUILD)/bench-results.txt \
	    $(BENCH_BUILD)/bench-results.prev.txt
	$(if $(BENCH_DOC),sh tests/bench-doc.sh $(BENCH_BUILD)/bench-results.txt docs/performance.md \
	    $(BENCH_BUILD))

# The end-to-end MCP tests' npm packages (the official MCP SDK client, the MCP
# Inspector CLI, and the Node.js 22 they run on), exactly as package-lock.json
# pins them. `npm ci` runs only when node_modules is missing or older than the
# lock file; the stamp marks a complete install.
E2E_DIR   = tests/e2e
E2E_STAMP = $(E2E_DIR)/node_modules/.phonely-e2e-installed

$(E2E_STAMP): $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	npm ci --prefix $(E2E_DIR) --no-audit --no-fund
	@touch $@

# The official MCP conformance suite (a release and a pre-release), the same way.
CONF_DIR   = tests/conformance
CONF_STAMP = $(CONF_DIR)/node_modules/.phonely-conformance-installed

$(CONF_STAMP): $(CONF_DIR)/package.json $(CONF_DIR)/package-lock.json
	npm ci --prefix $(CONF_DIR) --no-audit --no-fund
	@touch $@

# In CI (warnings are errors) the release build is compiled too, since
# optimisation brings warnings of its own.
test: test-deps
	@$(MAKE) --no-print-directory $(E2E_STAMP) $(CONF_STAMP)
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPHONELY_SANITIZE=ON -DPHONELY_WERROR=$(WERROR)
	cmake --build $(TEST_BUILD) -j $(JOBS)
	$(if $(CI),cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPHONELY_WERROR=ON -DPHONELY_TESTS=OFF && cmake --build $(BUILD) -j $(JOBS))
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)
	$(if $(CI),@$(MAKE) --no-print-directory valgrind)

# The same suite without sanitizers, with every test program, daemon and
# fixture server under valgrind memcheck; fails on any memory error or
# definite leak (tests/valgrind-report.sh prints them). The lint tests, and
# the client-compatibility tests (MCP Inspector, Naftiko), whose server
# paths the stdio and HTTP end-to-end tests already take, are left to
# `make test`.
VALGRIND_BUILD ?= build-valgrind
valgrind: test-deps
	@$(MAKE) --no-print-directory $(E2E_STAMP) $(CONF_STAMP)
	cmake -S . -B $(VALGRIND_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPHONELY_VALGRIND=ON -DPHONELY_WERROR=$(WERROR)
	cmake --build $(VALGRIND_BUILD) -j $(JOBS)
	cd $(VALGRIND_BUILD) && ctest --output-on-failure -j $(JOBS) -E '^(lint_|e2e_inspector|e2e_naftiko)'

# libFuzzer: build every tests/fuzz/ target with clang (-fsanitize=fuzzer,
# address,undefined) in $(FUZZ_BUILD)/, then run each for FUZZ_SECONDS on a
# scratch copy of its corpus (tests/fuzz/run.sh; new inputs stay in
# $(FUZZ_BUILD)/fuzz-work/). Prints executions per target; a finding leaves
# its reproducer in $(FUZZ_BUILD)/fuzz-findings/<target>/ and fails. clang is
# installed only for this target; clang's extra warnings never stop a fuzz
# build (PHONELY_WERROR=OFF). docs/fuzzing.md has the details.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= payload sig token jsonrpc schema fts cursor config
FUZZ_PKGS     = clang libclang-rt-14-dev

.PHONY: fuzz
fuzz:
	@$(MAKE) --no-print-directory install-pkgs PKGS="$(BUILD_PKGS) $(FUZZ_PKGS)"
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPHONELY_FUZZ=ON -DPHONELY_SANITIZE=ON -DPHONELY_WERROR=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

format:
	clang-format -i src/*.c src/*.h src/store/*.c src/store/*.h include/*.h tests/*.c tests/*.h \
	    tests/conformance/*.c tests/fuzz/*.c tests/fuzz/*.h

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(VALGRIND_BUILD)

# Thin wrapper over CMake and CTest. Day-to-day targets:
#   make build   release build in build/
#   make run     build, then start `phonely-mcp serve` on ./phonely-mcp.db
#   make test    ASan+UBSan build in build-test/, every test with CTest
#   make deps    install missing Debian packages (apt-get; sudo when not root)
#   make bench   release build, then the ingest benchmark (numbers, no assertions)
#   make format  clang-format every source file

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
WERROR     ?= $(if $(CI),ON,OFF)
STATE      ?= .phonely-mcp

# Debian packages, by name. BUILD_PKGS are needed to build and run,
# TEST_PKGS only to run the test suite. Node.js and npm (for the official
# MCP test clients) are installed from Debian only when the commands are
# missing, so a Node.js installed another way is left alone.
BUILD_PKGS = make cmake gcc libc6-dev pkg-config libmicrohttpd-dev libcjson-dev \
             libsqlite3-dev libsodium-dev
TEST_PKGS  = ca-certificates
NODE_PKGS  = $(shell command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || echo nodejs npm)

SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test deps test-deps install-pkgs bench format clean

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

# Start the daemon on the embedded SQLite default. The webhook token is made
# once with `phonely-mcp token` and kept in $(STATE)/webhook-token (mode 600),
# so the URL pasted into Phonely stays valid across restarts.
run: build
	@mkdir -p $(STATE) && chmod 700 $(STATE)
	@[ -s $(STATE)/webhook-token ] || (umask 077 && $(BUILD)/phonely-mcp token > $(STATE)/webhook-token)
	@host=$${PHONELY_MCP_WEBHOOK_LISTEN:-127.0.0.1:8080}; \
	echo ""; \
	echo "Webhook URL (paste into Phonely's Send Call Data action, behind your HTTPS proxy):"; \
	echo "  http://$$host/phonely/webhook/$$(cat $(STATE)/webhook-token)"; \
	echo "The token is kept in $(STATE)/webhook-token. Stop the daemon with Ctrl-C."; \
	echo ""
	PHONELY_MCP_WEBHOOK_TOKEN_FILE=$(STATE)/webhook-token exec $(BUILD)/phonely-mcp serve

# Release build of the daemon and the benchmark programs; prints numbers only.
BENCH_BUILD   ?= build-bench
BENCH_SECONDS ?= 5
bench: deps
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DPHONELY_WERROR=$(WERROR)
	cmake --build $(BENCH_BUILD) -j $(JOBS)
	PHONELY_TEST_BIN=$(BENCH_BUILD)/phonely-mcp $(BENCH_BUILD)/tests/bench_ingest $(BENCH_SECONDS)

test: test-deps
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPHONELY_SANITIZE=ON -DPHONELY_WERROR=$(WERROR)
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i src/*.c src/*.h include/*.h tests/*.c tests/*.h

clean:
	rm -rf $(BUILD) $(TEST_BUILD)

#!/bin/sh
# run-fixtures.sh NODE CONFORMANCE_SERVER OUTDIR: the whole active server
# suite of @modelcontextprotocol/conformance 0.1.16 against the fixture
# server; only the scenarios that need server-to-client requests may fail
# (expected-failures.yml).
set -u
# shellcheck source=tests/conformance/lib.sh
. "$(dirname "$0")/lib.sh"
conf_init "$@"
conf_start 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)/mcp$|\1|p' "$BIN" 0
"$NODE" "$CONF_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "$URL" --suite active --expected-failures "$CONF_DIR/expected-failures.yml" \
    -o "$OUT"
conf_finish $?

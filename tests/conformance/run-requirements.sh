#!/bin/sh
# run-requirements.sh NODE CONFORMANCE_SERVER OUTDIR: the scenarios
# @modelcontextprotocol/conformance 0.2.0-alpha.12 requires for spec
# revision 2025-11-25, with every message the server sends validated
# against the revision's JSON schema, against the fixture server; only the
# scenarios that need server-to-client requests may fail.
set -u
# shellcheck source=tests/conformance/lib.sh
. "$(dirname "$0")/lib.sh"
conf_init "$@"
conf_start 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)/mcp$|\1|p' "$BIN" 0
"$NODE" "$CONF_DIR/node_modules/conformance-next/dist/index.js" server \
    --url "$URL" --requirements 2025-11-25 \
    --expected-failures "$CONF_DIR/expected-failures.yml" -o "$OUT"
conf_finish $?
